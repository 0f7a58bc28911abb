/**
 * Logging Claude subscription accounts in through the gateway's management endpoints, as a script or the seed's
 * tooling drives them: the PKCE login (authorize, Claude's paste page, callback), the seed's spellings, the import of
 * Claude Code's credentials file, status with token previews only, refresh, forgetting, and the admin guard.
 * The real application runs in-process against the fake token endpoint; tokens go to a file in a temporary directory.
 */
import { existsSync, statSync } from 'node:fs';
import { request } from 'undici';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  expectAnthropicError,
  getJson,
  type JsonResponse,
  postJson,
  type RunningGateway,
  startGateway,
} from '../support/gateway-harness';
import {
  claudeCodeBody,
  codeFromLoginPage,
  credentialsFile,
  loginThroughQuery,
  oauthProvider,
  oauthSettings,
  routeAll,
  startLogin,
  type TempTokenStore,
  tempTokenStore,
} from '../support/oauth-gateway';

const ADMIN_KEY = 'adm-oauth-login-7c1f0e9b24d5';
const LOGIN_MINUTES = 10;

async function del(url: string, headers: Record<string, string> = {}): Promise<JsonResponse> {
  const response = await request(url, { method: 'DELETE', headers });
  const text = await response.body.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, headers: response.headers, body, text };
}

function basic(password: string, user = 'admin'): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** The CODE and STATE halves of what Claude's page shows. */
function splitPasted(pasted: string): { code: string; state: string } {
  const [code, state] = pasted.split('#');
  return { code: code!, state: state! };
}

describe('OAuth account login through the gateway', () => {
  let tokens: FakeTokenEndpoint;
  let upstream: FakeUpstream;
  let store: TempTokenStore;
  let gateway: RunningGateway | undefined;

  const config = (settings: Record<string, unknown> = {}) => ({
    providers: [oauthProvider('subscription', upstream.url)],
    model_routes: routeAll('subscription'),
    settings: { oauth: oauthSettings(tokens, store.path), ...settings },
  });

  beforeAll(async () => {
    [tokens, upstream] = await Promise.all([startFakeTokenEndpoint(), startFakeUpstream()]);
  });

  afterAll(async () => {
    await Promise.all([tokens?.close(), upstream?.close()]);
  });

  beforeEach(() => {
    tokens.reset();
    upstream.reset();
    tokens.addAccount({ email: 'alice@example.com', plan: 'claude_max' });
    tokens.addAccount({ email: 'bob@example.com', plan: 'claude_pro' });
    store = tempTokenStore();
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await gateway?.close();
    gateway = undefined;
    store.remove();
  });

  const start = async (settings: Record<string, unknown> = {}) => {
    gateway = await startGateway(config(settings));
    return gateway;
  };

  describe('the PKCE login with JSON', () => {
    it('should give a login link to the configured authorize URL with a fresh S256 challenge and state', async () => {
      const { url } = await start();

      const first = await getJson(`${url}/oauth/authorize`, { accept: 'application/json' });
      const second = await getJson(`${url}/oauth/authorize`, { accept: 'application/json' });

      expect(first.status).toBe(200);
      expect(first.headers['cache-control']).toBe('no-store');
      expect(first.body).toEqual({
        login_url: expect.any(String),
        state: expect.any(String),
        expires_in: LOGIN_MINUTES * 60,
      });
      const link = new URL(first.body.login_url as string);
      expect(`${link.origin}${link.pathname}`).toBe(tokens.authorizeUrl);
      expect(Object.fromEntries(link.searchParams)).toMatchObject({
        code: 'true',
        client_id: expect.any(String),
        response_type: 'code',
        redirect_uri: tokens.redirectUri,
        code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        code_challenge_method: 'S256',
        state: first.body.state,
      });
      expect(link.searchParams.get('scope')).toContain('user:inference');
      const secondLink = new URL(second.body.login_url as string);
      expect(second.body.state).not.toBe(first.body.state);
      expect(secondLink.searchParams.get('code_challenge')).not.toBe(link.searchParams.get('code_challenge'));
    });

    it('should store the account with its email and plan when the code from Claude is posted to /oauth/callback', async () => {
      const { url } = await start();

      const login = await startLogin(url);
      const pasted = await codeFromLoginPage(login.login_url);
      expect(splitPasted(pasted).state).toBe(login.state);
      const response = await postJson(`${url}/oauth/callback`, { code: pasted });

      expect(response.status).toBe(200);
      expect(response.body.account).toMatchObject({ email: 'alice@example.com', plan: 'claude_max', state: 'ok' });
      const exchange = tokens.calls.filter((c) => c.grant_type === 'authorization_code');
      expect(exchange).toHaveLength(1);
      expect(exchange[0]!.status).toBe(200);

      // The token store file: the account with the tokens the token endpoint issued, readable by its owner only.
      const stored = store.read();
      expect(stored.accounts.map((a) => a.email)).toEqual(['alice@example.com']);
      expect(tokens.tokenState(stored.accounts[0]!.accessToken)).toBe('valid');
      expect(tokens.emailFor(stored.accounts[0]!.accessToken)).toBe('alice@example.com');
      expect(stored.accounts[0]!.refreshToken).toMatch(/^test-oauth-refresh-/);
      expect(statSync(store.path).mode & 0o777).toBe(0o600);

      const status = await getJson(`${url}/oauth/status`);
      expect(status.body.accounts).toEqual([
        expect.objectContaining({ email: 'alice@example.com', plan: 'claude_max', state: 'ok' }),
      ]);
    });

    it('should accept the code and state as separate fields, and as the query of GET /oauth/callback', async () => {
      const { url } = await start();

      tokens.loginAs('alice@example.com');
      const first = splitPasted(await codeFromLoginPage((await startLogin(url)).login_url));
      const posted = await postJson(`${url}/oauth/callback`, first);

      tokens.loginAs('bob@example.com');
      const second = splitPasted(await codeFromLoginPage((await startLogin(url)).login_url));
      const query = new URLSearchParams({ code: second.code, state: second.state }).toString();
      const fromQuery = await getJson(`${url}/oauth/callback?${query}`);

      expect(posted.status).toBe(200);
      expect(posted.body.account).toMatchObject({ email: 'alice@example.com', plan: 'claude_max' });
      expect(fromQuery.status).toBe(200);
      expect(fromQuery.body.account).toMatchObject({ email: 'bob@example.com', plan: 'claude_pro' });
      expect(store.read().accounts.map((a) => a.email)).toEqual(
        expect.arrayContaining(['alice@example.com', 'bob@example.com']),
      );
    });

    it('should refuse a login whose state was already used, without calling the token endpoint again', async () => {
      const { url } = await start();

      const login = await startLogin(url);
      // Claude's page opened twice for the same login: two codes, one state.
      const first = await codeFromLoginPage(login.login_url);
      const second = await codeFromLoginPage(login.login_url);
      expect((await postJson(`${url}/oauth/callback`, { code: first })).status).toBe(200);
      const callsBefore = tokens.calls.length;

      const replayed = await postJson(`${url}/oauth/callback`, { code: first });
      const otherCode = await postJson(`${url}/oauth/callback`, { code: second });

      for (const response of [replayed, otherCode]) {
        expectAnthropicError(response, 400, 'invalid_request_error');
        expect(response.body.error.message).toMatch(/already used/);
      }
      expect(tokens.calls.length).toBe(callsBefore);
    });

    it('should refuse a state the gateway never issued', async () => {
      const { url } = await start();
      await startLogin(url);

      const response = await postJson(`${url}/oauth/callback`, { code: 'some-code#a-state-nobody-issued' });
      const fromQuery = await getJson(`${url}/oauth/callback?code=some-code&state=a-state-nobody-issued`);

      expectAnthropicError(response, 400, 'invalid_request_error');
      expect(response.body.error.message).toMatch(/unknown/);
      expectAnthropicError(fromQuery, 400, 'invalid_request_error');
      expect(tokens.calls).toHaveLength(0);
      expect((await getJson(`${url}/oauth/status`)).body.accounts).toEqual([]);
    });

    it('should refuse a POST /oauth/callback without a code', async () => {
      const { url } = await start();

      expectAnthropicError(await postJson(`${url}/oauth/callback`, {}), 400, 'invalid_request_error');
      expectAnthropicError(await postJson(`${url}/oauth/callback`, { code: '   ' }), 400, 'invalid_request_error');
      expectAnthropicError(await getJson(`${url}/oauth/callback`), 400, 'invalid_request_error');
    });

    // A login whose ten minutes passed is refused too: the login store keeps its own reference to the clock, so
    // that case runs against the real process with its clock moved (test/e2e/oauth-process.e2e-spec.ts).

    it('should answer 400 naming the refusal when Claude refuses the code', async () => {
      const { url } = await start();
      const login = await startLogin(url);
      const { state } = splitPasted(await codeFromLoginPage(login.login_url));

      const response = await postJson(`${url}/oauth/callback`, { code: `not-the-code-claude-gave#${state}` });

      expectAnthropicError(response, 400, 'invalid_request_error');
      expect(response.body.error.message).toContain('Invalid authorization code');
      expect((await getJson(`${url}/oauth/status`)).body.accounts).toEqual([]);
    });

    it('should answer 502 when the token endpoint fails during the exchange, and store nothing', async () => {
      const { url } = await start();
      const pasted = await codeFromLoginPage((await startLogin(url)).login_url);
      tokens.failNext({ status: 503, body: { error: 'server_error', error_description: 'Upstream is down' } });

      const response = await postJson(`${url}/oauth/callback`, { code: pasted });

      expectAnthropicError(response, 502, 'api_error');
      expect(response.body.error.message).toContain('Upstream is down');
      expect((await getJson(`${url}/oauth/status`)).body.accounts).toEqual([]);
    });
  });

  describe("the seed's spellings", () => {
    it('should log in through GET /oauth/generate-url and POST /oauth/exchange-code', async () => {
      const { url } = await start();

      const generated = await getJson(`${url}/oauth/generate-url`);
      expect(generated.status).toBe(200);
      expect(generated.body).toMatchObject({
        login_url: expect.stringContaining(tokens.authorizeUrl),
        state: expect.any(String),
        expires_in: LOGIN_MINUTES * 60,
        instructions: expect.stringContaining('/oauth/callback'),
      });
      const pasted = await codeFromLoginPage(generated.body.login_url as string);
      const exchanged = await postJson(`${url}/oauth/exchange-code`, {
        code: pasted,
        account_email: 'alice@example.com',
      });

      expect(exchanged.status).toBe(200);
      expect(exchanged.body.account).toMatchObject({ email: 'alice@example.com', plan: 'claude_max', state: 'ok' });
      expect(store.read().accounts.map((a) => a.email)).toEqual(['alice@example.com']);
    });

    it('should take a code pasted without its #state when exactly one login is pending', async () => {
      const { url } = await start();
      tokens.loginAs('bob@example.com');

      const generated = await getJson(`${url}/oauth/generate-url`);
      const { code } = splitPasted(await codeFromLoginPage(generated.body.login_url as string));
      const exchanged = await postJson(`${url}/oauth/exchange-code`, { code });

      expect(exchanged.status).toBe(200);
      expect(exchanged.body.account).toMatchObject({ email: 'bob@example.com', plan: 'claude_pro' });
    });

    it('should refuse a code without its state when two logins are pending', async () => {
      const { url } = await start();

      const first = await getJson(`${url}/oauth/generate-url`);
      await getJson(`${url}/oauth/generate-url`);
      const { code } = splitPasted(await codeFromLoginPage(first.body.login_url as string));
      const exchanged = await postJson(`${url}/oauth/exchange-code`, { code });

      expectAnthropicError(exchanged, 400, 'invalid_request_error');
      expect(exchanged.body.error.message).toMatch(/unknown, expired .* or already used/);
      expect(tokens.calls).toHaveLength(0);
    });
  });

  describe("importing Claude Code's credentials file", () => {
    it('should add the account, learning its email and plan from the profile endpoint', async () => {
      const { url } = await start();
      const issued = tokens.issueTokens('alice@example.com');

      const response = await postJson(`${url}/oauth/import`, credentialsFile(issued, 'max'));

      expect(response.status).toBe(200);
      expect(response.body.account).toMatchObject({ email: 'alice@example.com', plan: 'claude_max', state: 'ok' });
      expect(response.body.account.expires_at).toBe(new Date(issued.expiresAt).toISOString());
      expect(response.body.account.scopes).toEqual(issued.scope.split(' '));
      const stored = store.read().accounts;
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({
        email: 'alice@example.com',
        accessToken: issued.accessToken,
        refreshToken: issued.refreshToken,
        expiresAt: issued.expiresAt,
      });
      expect(statSync(store.path).mode & 0o777).toBe(0o600);
    });

    it.each([
      ['an Origin of another site', { origin: 'http://evil.example' }],
      ['Fetch Metadata saying cross-site', { 'sec-fetch-site': 'cross-site' }],
    ])('should refuse an import that another site’s page sent through the browser (%s)', async (_case, headers) => {
      const { url } = await start();
      tokens.addAccount({ email: 'mallory@example.com' });
      const issued = tokens.issueTokens('mallory@example.com');

      const response = await postJson(`${url}/oauth/import`, JSON.stringify(credentialsFile(issued)), {
        'content-type': 'text/plain;charset=UTF-8',
        ...headers,
      });

      expectAnthropicError(response, 403, 'permission_error');
      expect(existsSync(store.path) ? store.read().accounts : []).toEqual([]);
    });

    it('should take the email and plan from the file when the profile endpoint does not know the token', async () => {
      const { url } = await start();
      const document = {
        email: 'Dave@Example.com',
        claudeAiOauth: {
          accessToken: 'test-oauth-access-not-known-to-the-profile-endpoint-0001',
          refreshToken: 'test-oauth-refresh-not-known-to-the-token-endpoint-0001',
          expiresAt: Date.now() + 3_600_000,
          scopes: ['user:inference', 'user:profile'],
          subscriptionType: 'pro',
        },
      };

      const response = await postJson(`${url}/oauth/import`, document);

      expect(response.status).toBe(200);
      expect(response.body.account).toMatchObject({ email: 'dave@example.com', plan: 'claude_pro' });
    });

    it('should refuse a file without tokens, and one whose email cannot be learned', async () => {
      const { url } = await start();

      const empty = await postJson(`${url}/oauth/import`, { claudeAiOauth: {} });
      const notCredentials = await postJson(`${url}/oauth/import`, { hello: 'world' });
      const noEmail = await postJson(`${url}/oauth/import`, {
        claudeAiOauth: {
          accessToken: 'test-oauth-access-unknown-token-without-email-0002',
          refreshToken: 'test-oauth-refresh-unknown-token-without-email-0002',
          expiresAt: Date.now() + 3_600_000,
        },
      });

      expectAnthropicError(empty, 400, 'invalid_request_error');
      expect(empty.body.error.message).toContain('claudeAiOauth');
      expectAnthropicError(notCredentials, 400, 'invalid_request_error');
      expectAnthropicError(noEmail, 400, 'invalid_request_error');
      expect(noEmail.body.error.message).toContain('email');
      expect(noEmail.text).not.toContain('test-oauth-access-unknown-token-without-email-0002');
      expect((await getJson(`${url}/oauth/status`)).body.accounts).toEqual([]);
    });
  });

  describe('status, refresh and forgetting', () => {
    it('should show token previews only: no whole token in /oauth/status, /providers or any error body', async () => {
      const { url } = await start();
      await loginThroughQuery(url, tokens, 'alice@example.com');
      await loginThroughQuery(url, tokens, 'bob@example.com');
      const bob = store.read().accounts.find((a) => a.email === 'bob@example.com')!;
      upstream.requireOAuth(tokens.upstreamCheck);

      const bodies: JsonResponse[] = [];
      const status = await getJson(`${url}/oauth/status`);
      bodies.push(status, await getJson(`${url}/providers`));
      // Error bodies: a failed refresh, a failed login, and a request that no account could serve.
      tokens.failNext({ status: 500 });
      bodies.push(await postJson(`${url}/oauth/refresh/bob%40example.com`, {}));
      bodies.push(await postJson(`${url}/oauth/callback`, { code: `${bob.accessToken}#${bob.refreshToken}` }));
      tokens.revoke('alice@example.com');
      tokens.revoke('bob@example.com');
      const refused = await postJson(`${url}/v1/messages`, claudeCodeBody());
      bodies.push(refused, await getJson(`${url}/oauth/status`), await getJson(`${url}/providers`));

      expect(status.status).toBe(200);
      expect(status.body.summary).toMatchObject({ total: 2, ok: 2 });
      for (const account of status.body.accounts as { access_token: string; refresh_token: string }[]) {
        expect(account.access_token).toMatch(/^.{1,14}…$|^…$/u);
        expect(account.refresh_token).toMatch(/^.{1,14}…$|^…$/u);
      }
      expect(refused.status).toBeGreaterThanOrEqual(400);
      const secrets = store.read().accounts.flatMap((a) => [a.accessToken, a.refreshToken]);
      secrets.push(bob.accessToken, bob.refreshToken);
      expect(secrets.length).toBeGreaterThanOrEqual(4);
      for (const body of bodies) {
        for (const secret of secrets) expect(body.text).not.toContain(secret);
        // Nor any long piece of one: a preview is at most 14 characters.
        for (const secret of secrets) expect(body.text).not.toContain(secret.slice(0, 24));
      }
    });

    it('should refresh an account on POST /oauth/refresh/:account and keep the rotated tokens', async () => {
      const { url } = await start();
      await loginThroughQuery(url, tokens, 'alice@example.com');
      const issued = store.read().accounts[0]!;

      const response = await postJson(`${url}/oauth/refresh/alice%40example.com`, {});

      expect(response.status).toBe(200);
      expect(response.body.account).toMatchObject({ email: 'alice@example.com', state: 'ok' });
      expect(response.body.account.last_refresh).toEqual(expect.any(String));
      expect(tokens.refreshes('alice@example.com')).toBe(1);
      const stored = store.read().accounts[0]!;
      expect(stored.refreshToken).not.toBe(issued.refreshToken);
      expect(stored.accessToken).not.toBe(issued.accessToken);
      expect(tokens.tokenState(stored.accessToken)).toBe('valid');
      expectAnthropicError(await postJson(`${url}/oauth/refresh/nobody%40example.com`, {}), 404, 'not_found_error');
    });

    it('should forget one account on DELETE /oauth/tokens/:account, then all on DELETE /oauth/tokens', async () => {
      const { url } = await start();
      tokens.addAccount({ email: 'carol@example.com' });
      for (const email of ['alice@example.com', 'bob@example.com', 'carol@example.com']) {
        await loginThroughQuery(url, tokens, email);
      }

      const one = await del(`${url}/oauth/tokens/Alice%40Example.com`);
      expect(one.status).toBe(200);
      expect(one.body).toEqual({ deleted: 'alice@example.com' });
      expect(
        store
          .read()
          .accounts.map((a) => a.email)
          .sort(),
      ).toEqual(['bob@example.com', 'carol@example.com']);
      const listed = await getJson(`${url}/oauth/status`);
      expect((listed.body.accounts as { email: string }[]).map((a) => a.email).sort()).toEqual([
        'bob@example.com',
        'carol@example.com',
      ]);
      expectAnthropicError(await del(`${url}/oauth/tokens/alice%40example.com`), 404, 'not_found_error');

      const all = await del(`${url}/oauth/tokens`);
      expect(all.status).toBe(200);
      expect(all.body).toEqual({ deleted: 2 });
      expect(store.read().accounts).toEqual([]);
      expect((await getJson(`${url}/oauth/status`)).body).toMatchObject({ accounts: [], summary: { total: 0 } });
      expect(statSync(store.path).mode & 0o777).toBe(0o600);
    });
  });

  describe('with settings.admin_key', () => {
    const settings = { admin_key: ADMIN_KEY };

    it('should answer 401 without the key, and ask a browser for Basic authentication', async () => {
      const { url } = await start(settings);

      const script = await getJson(`${url}/oauth/status`, { accept: 'application/json' });
      const browser = await getJson(`${url}/oauth/authorize`, { accept: 'text/html,application/xhtml+xml' });
      const wrongBasic = await getJson(`${url}/oauth/authorize`, {
        accept: 'text/html',
        authorization: basic('not-the-key'),
      });
      const wrongKey = await postJson(`${url}/oauth/callback`, { code: 'x#y' }, { 'x-api-key': 'not-the-key' });

      expectAnthropicError(script, 401, 'authentication_error');
      expect(script.headers['www-authenticate']).toBeUndefined();
      for (const response of [browser, wrongBasic]) {
        expect(response.status).toBe(401);
        expect(response.headers['www-authenticate']).toMatch(/^Basic realm="[^"]+"/);
      }
      expectAnthropicError(wrongKey, 401, 'authentication_error');
      expect(tokens.calls).toHaveLength(0);
    });

    it('should let the key in as HTTP Basic password, x-api-key or Bearer, and log in with it', async () => {
      const { url } = await start(settings);

      const page = await getJson(`${url}/oauth/authorize`, { accept: 'text/html', authorization: basic(ADMIN_KEY) });
      const viaApiKey = await getJson(`${url}/oauth/status`, { 'x-api-key': ADMIN_KEY });
      const viaBearer = await getJson(`${url}/oauth/status`, { authorization: `Bearer ${ADMIN_KEY}` });
      const viaBasicOtherUser = await getJson(`${url}/oauth/status`, { authorization: basic(ADMIN_KEY, 'me') });
      const login = await loginThroughQuery(url, tokens, 'alice@example.com', { authorization: basic(ADMIN_KEY) });

      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('id="login-link"');
      for (const response of [viaApiKey, viaBearer, viaBasicOtherUser]) expect(response.status).toBe(200);
      expect(login.status).toBe(200);
      expect(login.body.account.email).toBe('alice@example.com');
      expect(page.text).not.toContain(ADMIN_KEY);
    });
  });

  describe('the browser page of /oauth/authorize', () => {
    it('should carry the login link, the state and a form that posts to callback', async () => {
      const { url } = await start();

      const page = await getJson(`${url}/oauth/authorize`, { accept: 'text/html' });

      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['cache-control']).toBe('no-store');
      const href = /<a [^>]*id="login-link"[^>]*href="([^"]+)"/.exec(page.text)?.[1];
      expect(href).toBeDefined();
      const link = new URL(href!.replace(/&#38;/g, '&'));
      expect(`${link.origin}${link.pathname}`).toBe(tokens.authorizeUrl);
      const state = /id="state" value="([^"]+)"/.exec(page.text)?.[1];
      expect(state).toBe(link.searchParams.get('state'));
      expect(page.text).toMatch(/<form id="paste"/);
      expect(page.text).toMatch(/<input id="code"/);
      expect(page.text).toContain("fetch('callback'");

      // The page's own state finishes the login, as its script would post it.
      const pasted = await codeFromLoginPage(link.toString());
      const finished = await postJson(`${url}/oauth/callback`, { code: pasted, state });
      expect(finished.status).toBe(200);
      expect(finished.body.account.email).toBe('alice@example.com');
    });
  });
});
