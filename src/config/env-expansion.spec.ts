import { expandEnv } from './env-expansion';

describe('expandEnv', () => {
  const env = { KEY: 'secret', EMPTY: '' };

  it('should replace a set variable anywhere in a string', () => {
    expect(expandEnv({ a: 'Bearer ${KEY}!' }, env).value).toEqual({ a: 'Bearer secret!' });
  });

  it('should use the default when the variable is unset or empty', () => {
    const doc = { a: '${MISSING:-fallback}', b: '${EMPTY:-x}', c: '${MISSING:-}' };
    expect(expandEnv(doc, env)).toEqual({ value: { a: 'fallback', b: 'x', c: '' }, unset: [] });
  });

  it('should report unset variables without a default by their path', () => {
    const result = expandEnv({ providers: [{ auth_value: '${NOPE}' }] }, env);
    expect(result.value).toEqual({ providers: [{ auth_value: '' }] });
    expect(result.unset).toEqual([{ path: 'providers[0].auth_value', variable: 'NOPE' }]);
  });

  it('should leave numbers, booleans and plain strings alone', () => {
    const doc = { n: 3, b: true, s: 'plain $ text', nil: null };
    expect(expandEnv(doc, env).value).toEqual(doc);
  });
});
