import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import {
  pastedCodeFrom,
  pkceChallenge,
  startFakeTokenEndpoint,
  type FakeTokenEndpoint,
  type TokenCall,
} from './fake-token-endpoint';
import { OAUTH_BETA, startFakeUpstream, type FakeUpstream } from './fake-upstream';

const CLIENT_ID = '9d1c250a-e61b-44d9-88ed-5944d1962f5e';
const SCOPE = 'org:create_api_key user:profile user:inference';

interface TokenAnswer {
  access_token: string;
  refresh_token?: string;
  expires_in: number;
  token_type: string;
  scope: string;
  account: { uuid: string; email_address: string };
  organization: { uuid: string; name: string };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: unknown;
}

describe('fake token endpoint', () => {
  let tokens: FakeTokenEndpoint;
  let up: FakeUpstream;

  beforeAll(async () => {
    tokens = await startFakeTokenEndpoint();
    up = await startFakeUpstream();
  });

  afterEach(() => {
    tokens.reset();
    up.reset();
  });

  afterAll(async () => {
    await tokens.close();
    await up.close();
  });

  const postToken = async (body: unknown, contentType = 'application/json'): Promise<Reply> => {
    const res = await request(tokens.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.statusCode, headers: res.headers, json: await res.body.json() };
  };

  const refresh = (refreshToken: string) =>
    postToken({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT_ID });

  const getProfile = async (accessToken: string): Promise<Reply> => {
    const res = await request(tokens.profileUrl, { headers: { authorization: `Bearer ${accessToken}` } });
    return { status: res.statusCode, headers: res.headers, json: await res.body.json() };
  };

  /** Opens the authorize page like a browser would and returns what the user pastes back. */
  const authorize = async (params: Record<string, string>): Promise<{ status: number; text: string }> => {
    const res = await request(`${tokens.authorizeUrl}?${new URLSearchParams(params).toString()}`);
    return { status: res.statusCode, text: await res.body.text() };
  };

  const authorizeParams = (challenge: string, state: string): Record<string, string> => ({
    code: 'true',
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: tokens.redirectUri,
    scope: SCOPE,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
  });

  /** The whole paste flow; returns the pasted code's parts and the verifier for the exchange. */
  const startLogin = async (): Promise<{ code: string; state: string; verifier: string }> => {
    const verifier = randomBytes(32).toString('base64url');
    const sentState = randomBytes(16).toString('base64url');
    const page = await authorize(authorizeParams(pkceChallenge(verifier), sentState));
    expect(page.status).toBe(200);
    const [code, state] = pastedCodeFrom(page.text).split('#');
    return { code: code!, state: state!, verifier };
  };

  const exchange = (login: { code: string; state: string; verifier: string }, overrides: object = {}) =>
    postToken({
      grant_type: 'authorization_code',
      code: login.code,
      state: login.state,
      client_id: CLIENT_ID,
      redirect_uri: tokens.redirectUri,
      code_verifier: login.verifier,
      ...overrides,
    });

  const login = async (): Promise<TokenAnswer> => {
    const reply = await exchange(await startLogin());
    expect(reply.status).toBe(200);
    return reply.json as TokenAnswer;
  };

  const invalidGrant = (description: string) => ({ error: 'invalid_grant', error_description: description });

  describe('authorization code', () => {
    it('should issue tokens for a code pasted from the authorize page with a real PKCE verifier', async () => {
      const account = tokens.addAccount({ email: 'max@example.com' });
      const verifier = randomBytes(32).toString('base64url');
      const page = await authorize(authorizeParams(pkceChallenge(verifier), 'state-123'));
      expect(page.status).toBe(200);
      expect(page.text).toMatch(/<pre id="code">[A-Za-z0-9_-]+#state-123<\/pre>/);
      expect(tokens.lastAuthorize).toMatchObject({ client_id: CLIENT_ID, state: 'state-123', scope: SCOPE });
      const [code, state] = pastedCodeFrom(page.text).split('#');

      const reply = await exchange({ code: code!, state: state!, verifier });
      expect(reply.status).toBe(200);
      const answer = reply.json as TokenAnswer;
      expect(answer).toEqual({
        token_type: 'Bearer',
        access_token: expect.stringMatching(/^test-oauth-access-[A-Za-z0-9_-]+$/),
        refresh_token: expect.stringMatching(/^test-oauth-refresh-[A-Za-z0-9_-]+$/),
        expires_in: 28800,
        scope: SCOPE,
        account: { uuid: account.accountUuid, email_address: 'max@example.com' },
        organization: { uuid: account.organizationUuid, name: account.organizationName },
      });
      expect(tokens.tokenState(answer.access_token)).toBe('valid');
      expect(tokens.emailFor(answer.access_token)).toBe('max@example.com');
      expect(tokens.calls).toEqual([
        expect.objectContaining({ grant_type: 'authorization_code', status: 200, at: expect.any(Number) }),
      ]);
    });

    it('should log in as the account chosen with loginAs', async () => {
      tokens.addAccount({ email: 'first@example.com' });
      tokens.addAccount({ email: 'second@example.com', plan: 'claude_pro' });
      expect((await login()).account.email_address).toBe('first@example.com');
      tokens.loginAs('second@example.com');
      const answer = await login();
      expect(answer.account.email_address).toBe('second@example.com');
      expect(tokens.emailFor(answer.access_token)).toBe('second@example.com');
    });

    it('should refuse an authorize query without client_id, S256 challenge or state', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const good = authorizeParams(pkceChallenge('verifier'), 's');
      const without = (name: string): Record<string, string> =>
        Object.fromEntries(Object.entries(good).filter(([key]) => key !== name));
      for (const params of [
        without('client_id'),
        without('code_challenge'),
        { ...good, code_challenge_method: 'plain' },
        without('state'),
      ]) {
        const page = await authorize(params);
        expect(page.status).toBe(400);
        expect(page.text).not.toContain('id="code"');
      }
      expect(tokens.lastAuthorize).toEqual(without('state'));
    });

    it('should refuse a code used twice, a wrong verifier, state or redirect_uri', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const started = await startLogin();
      expect((await exchange(started, { code_verifier: 'not-the-verifier' })).json).toEqual(
        invalidGrant('Invalid code_verifier'),
      );
      expect((await exchange(started, { state: 'other' })).status).toBe(400);
      expect((await exchange(started, { redirect_uri: 'http://127.0.0.1:1/cb' })).status).toBe(400);
      expect((await exchange(started)).status).toBe(200);
      const again = await exchange(started);
      expect(again.status).toBe(400);
      expect(again.json).toEqual(invalidGrant('Invalid authorization code'));
      expect((await exchange({ ...started, code: 'never-issued' })).json).toEqual(
        invalidGrant('Invalid authorization code'),
      );
    });

    it('should answer 415 with a JSON error to a form-encoded body', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const started = await startLogin();
      const form = new URLSearchParams({ grant_type: 'authorization_code', code: started.code }).toString();
      const reply = await postToken(form, 'application/x-www-form-urlencoded');
      expect(reply.status).toBe(415);
      expect(reply.headers['content-type']).toBe('application/json');
      expect(reply.json).toMatchObject({ error: 'invalid_request' });
      expect(tokens.calls[0]).toMatchObject({ grant_type: undefined, body: undefined, status: 415 });
    });
  });

  describe('refresh', () => {
    it('should rotate refresh tokens and refuse one that was already used', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const first = await login();
      const second = await refresh(first.refresh_token!);
      expect(second.status).toBe(200);
      const rotated = second.json as TokenAnswer;
      expect(rotated.access_token).not.toBe(first.access_token);
      expect(rotated.refresh_token).toMatch(/^test-oauth-refresh-/);
      expect(rotated.refresh_token).not.toBe(first.refresh_token);
      expect(rotated.account.email_address).toBe('max@example.com');

      const reused = await refresh(first.refresh_token!);
      expect(reused.status).toBe(400);
      expect(reused.json).toEqual(invalidGrant('Refresh token not found or invalid'));
      expect((await refresh(rotated.refresh_token!)).status).toBe(200);
      expect((await refresh('test-oauth-refresh-unknown')).json).toEqual(
        invalidGrant('Refresh token not found or invalid'),
      );
      expect(tokens.refreshes('max@example.com')).toBe(2);
    });

    it('should keep the old refresh token valid when the answer leaves refresh_token out', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const first = await login();
      tokens.omitRefreshTokenOnRefresh = true;
      const reply = await refresh(first.refresh_token!);
      expect(reply.status).toBe(200);
      expect(reply.json).not.toHaveProperty('refresh_token');
      expect((await refresh(first.refresh_token!)).status).toBe(200);
      expect(tokens.refreshes('max@example.com')).toBe(2);
    });

    it('should let only one of two overlapping refreshes with the same token succeed', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const first = await login();
      tokens.delayMs = 100;
      const replies = await Promise.all([refresh(first.refresh_token!), refresh(first.refresh_token!)]);
      expect(replies.map((r) => r.status).sort()).toEqual([200, 400]);
      expect(tokens.refreshes('max@example.com')).toBe(1);
    });

    it('should consume injected faults in order before answering normally', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const first = await login();
      tokens.failNext({ status: 429, body: { error: 'rate_limit_error' }, headers: { 'retry-after': '7' } });
      tokens.failNext({ status: 503 }, 2);
      tokens.failNext({
        status: 403,
        body: { error: 'permission_error', error_description: 'OAuth token has been revoked' },
      });

      const limited = await refresh(first.refresh_token!);
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBe('7');
      expect(limited.json).toEqual({ error: 'rate_limit_error' });
      const unavailable = [await refresh(first.refresh_token!), await refresh(first.refresh_token!)];
      expect(unavailable.map((r) => r.status)).toEqual([503, 503]);
      expect(unavailable[0]!.json).toMatchObject({ error: 'server_error' });
      const revoked = await refresh(first.refresh_token!);
      expect(revoked.status).toBe(403);
      expect(revoked.json).toMatchObject({ error_description: 'OAuth token has been revoked' });

      // A faulted call never looked at the grant, so the refresh token is still unused.
      expect((await refresh(first.refresh_token!)).status).toBe(200);
      expect(tokens.calls.map((c: TokenCall) => [c.grant_type, c.status])).toEqual([
        ['authorization_code', 200],
        ['refresh_token', 429],
        ['refresh_token', 503],
        ['refresh_token', 503],
        ['refresh_token', 403],
        ['refresh_token', 200],
      ]);
      expect(tokens.calls[1]!.body).toEqual({
        grant_type: 'refresh_token',
        refresh_token: first.refresh_token,
        client_id: CLIENT_ID,
      });
      expect(tokens.refreshes('max@example.com')).toBe(1);
    });

    it('should refuse the refresh tokens and revoke the access tokens of a revoked account', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      tokens.addAccount({ email: 'other@example.com' });
      const revoked = await login();
      tokens.loginAs('other@example.com');
      const other = await login();
      tokens.revoke('max@example.com');

      expect((await refresh(revoked.refresh_token!)).json).toEqual(invalidGrant('Refresh token not found or invalid'));
      expect(tokens.tokenState(revoked.access_token)).toBe('revoked');
      expect((await getProfile(revoked.access_token)).status).toBe(403);
      expect(tokens.tokenState(other.access_token)).toBe('valid');
      expect((await refresh(other.refresh_token!)).status).toBe(200);
    });
  });

  describe('profile and token state', () => {
    it('should describe the account and organization of a valid token', async () => {
      const account = tokens.addAccount({ email: 'max@example.com', fullName: 'Max Tester' });
      const reply = await getProfile((await login()).access_token);
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({
        account: { uuid: account.accountUuid, email: 'max@example.com', full_name: 'Max Tester' },
        organization: {
          uuid: account.organizationUuid,
          organization_type: 'claude_max',
          rate_limit_tier: 'default_claude_max_20x',
        },
      });
    });

    it('should answer 401 to an unknown or expired token', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      expect((await getProfile('test-oauth-access-unknown')).status).toBe(401);
      expect(tokens.tokenState('test-oauth-access-unknown')).toBe('unknown');

      const answer = await login();
      tokens.expireAccessTokens('max@example.com');
      expect(tokens.tokenState(answer.access_token)).toBe('expired');
      const reply = await getProfile(answer.access_token);
      expect(reply.status).toBe(401);
      expect(reply.json).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });

      const fresh = await refresh(answer.refresh_token!);
      expect(tokens.tokenState((fresh.json as TokenAnswer).access_token)).toBe('valid');
    });

    it('should expire tokens by their expires_in', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      tokens.expiresIn = 0;
      const answer = await login();
      expect(answer.expires_in).toBe(0);
      expect(tokens.tokenState(answer.access_token)).toBe('expired');
    });

    it('should mint a refreshable pair without the authorize flow', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const seeded = tokens.issueTokens('max@example.com', { expiresIn: 60 });
      expect(tokens.tokenState(seeded.accessToken)).toBe('valid');
      expect(seeded.expiresAt).toBeGreaterThan(Date.now());
      expect((await refresh(seeded.refreshToken)).status).toBe(200);
    });
  });

  it('should close with a delayed token call still pending', async () => {
    const other = await startFakeTokenEndpoint();
    other.delayMs = 60_000;
    const pending = request(other.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'x', client_id: CLIENT_ID }),
    }).then(
      () => 'resolved',
      () => 'rejected',
    );
    while (other.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await other.close();
    expect(await pending).toBe('rejected');
    expect(other.calls[0]!.status).toBeUndefined();
  });

  describe('fake upstream OAuth checks', () => {
    const postMessages = async (headers: Record<string, string>, path = '/v1/messages'): Promise<Reply> => {
      const res = await request(`${up.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
      });
      return { status: res.statusCode, headers: res.headers, json: await res.body.json() };
    };

    const oauthHeaders = (accessToken: string, betas = `claude-code-20250219,${OAUTH_BETA}`) => ({
      authorization: `Bearer ${accessToken}`,
      'anthropic-beta': betas,
    });

    const anthropicError = (type: string, message: string) => ({ type: 'error', error: { type, message } });

    beforeEach(() => up.requireOAuth(tokens.upstreamCheck));

    it('should answer a valid token and record its authorization and beta flags', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const { access_token } = await login();
      const reply = await postMessages(oauthHeaders(access_token, `claude-code-20250219, ${OAUTH_BETA}`));
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({ content: [{ type: 'text', text: 'Hello from fake' }] });
      expect((await postMessages(oauthHeaders(access_token), '/v1/messages/count_tokens')).status).toBe(200);

      const recorded = up.requests[0]!;
      expect(recorded.headers.authorization).toBe(`Bearer ${access_token}`);
      expect(tokens.emailFor(recorded.headers.authorization!.slice('Bearer '.length))).toBe('max@example.com');
      expect(recorded.betas).toEqual(['claude-code-20250219', OAUTH_BETA]);
    });

    it('should refuse an expired token without using the queued behaviour', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const { access_token } = await login();
      tokens.expireAccessTokens();
      up.enqueue({ kind: 'message', content: [{ type: 'text', text: 'queued' }] });
      const reply = await postMessages(oauthHeaders(access_token));
      expect(reply.status).toBe(401);
      expect(reply.json).toMatchObject(
        anthropicError(
          'authentication_error',
          'OAuth token has expired. Please obtain a new token or refresh your existing token.',
        ),
      );
      const counted = await postMessages(oauthHeaders(access_token), '/v1/messages/count_tokens');
      expect(counted.status).toBe(401);
      expect(up.requests).toHaveLength(2);

      const fresh = await login();
      const after = await postMessages(oauthHeaders(fresh.access_token));
      expect(after.json).toMatchObject({ content: [{ type: 'text', text: 'queued' }] });
    });

    it('should refuse a bearer token without the OAuth beta flag', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const { access_token } = await login();
      const reply = await postMessages(oauthHeaders(access_token, 'claude-code-20250219'));
      expect(reply.status).toBe(401);
      expect(reply.json).toMatchObject(
        anthropicError('authentication_error', 'OAuth authentication is currently not supported.'),
      );
      expect(up.requests[0]!.betas).toEqual(['claude-code-20250219']);
    });

    it('should refuse an x-api-key or a missing bearer token', async () => {
      tokens.addAccount({ email: 'max@example.com' });
      const { access_token } = await login();
      const withKey = await postMessages({ ...oauthHeaders(access_token), 'x-api-key': access_token });
      expect(withKey.status).toBe(401);
      expect(withKey.json).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
      const without = await postMessages({ 'anthropic-beta': OAUTH_BETA });
      expect(without.status).toBe(401);
      expect(without.json).toMatchObject(anthropicError('authentication_error', 'x-api-key header is required'));
    });

    it('should refuse revoked, unknown and disabled-organization tokens', async () => {
      tokens.addAccount({ email: 'revoked@example.com' });
      tokens.addAccount({ email: 'disabled@example.com', organizationDisabled: true });
      const revoked = await login();
      tokens.revoke('revoked@example.com');
      tokens.loginAs('disabled@example.com');
      const disabled = await login();

      const refusedRevoked = await postMessages(oauthHeaders(revoked.access_token));
      expect(refusedRevoked.status).toBe(403);
      expect(refusedRevoked.json).toMatchObject(
        anthropicError('permission_error', 'OAuth token has been revoked. Please obtain a new token.'),
      );
      const unknown = await postMessages(oauthHeaders('test-oauth-access-unknown'));
      expect(unknown.status).toBe(401);
      expect(unknown.json).toMatchObject(anthropicError('authentication_error', 'Invalid bearer token'));
      const refusedDisabled = await postMessages(oauthHeaders(disabled.access_token));
      expect(refusedDisabled.status).toBe(400);
      expect(refusedDisabled.json).toMatchObject(
        anthropicError('invalid_request_error', 'This organization has been disabled.'),
      );
    });

    it('should stop checking after reset', async () => {
      up.reset();
      const reply = await postMessages({ 'x-api-key': 'sk-test' });
      expect(reply.status).toBe(200);
    });
  });
});
