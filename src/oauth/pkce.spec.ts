import { createHash } from 'node:crypto';
import { buildConfig } from '../config/config-loader';
import { splitPastedCode, startLogin } from './pkce';

const settings = buildConfig(
  { providers: [{ name: 'p', type: 'anthropic', base_url: 'https://p.example', auth_value: 'secret-123' }] },
  'f',
  {},
).settings.oauth;

describe('startLogin', () => {
  it('should give a fresh verifier, an S256 challenge of it and a separate state every time', () => {
    const first = startLogin(settings);
    const second = startLogin(settings);
    const query = new URL(first.loginUrl).searchParams;
    expect(first.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(query.get('code_challenge')).toBe(createHash('sha256').update(first.verifier).digest('base64url'));
    expect(query.get('code_challenge_method')).toBe('S256');
    expect(query.get('state')).toBe(first.state);
    expect(first.state).not.toBe(first.verifier);
    expect(second.verifier).not.toBe(first.verifier);
    expect(second.state).not.toBe(first.state);
    expect(Object.fromEntries(query)).toMatchObject({
      code: 'true',
      response_type: 'code',
      client_id: settings.clientId,
    });
  });
});

describe('splitPastedCode', () => {
  it.each([
    ['abc#xyz', { code: 'abc', state: 'xyz' }],
    ['  abc#xyz \n', { code: 'abc', state: 'xyz' }],
    ['abc&foo=1#xyz', { code: 'abc', state: 'xyz' }],
    ['https://platform.claude.com/oauth/code/callback?code=abc&state=xyz', { code: 'abc', state: 'xyz' }],
    ['abc', { code: 'abc', state: undefined }],
  ])('should read %j', (pasted, expected) => {
    expect(splitPastedCode(pasted)).toEqual(expected);
  });

  it('should prefer a state given beside the code', () => {
    expect(splitPastedCode('abc#pasted', 'given')).toEqual({ code: 'abc', state: 'given' });
  });
});
