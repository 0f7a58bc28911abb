/**
 * Clients that try what the fuzz tier does not: request smuggling with both body framings, path tricks on the account
 * endpoints, and dodging a rate limit by switching between the two header forms of a key or between replicas.
 * (Markup in account emails, provider errors and the dashboard is the browser tier's.)
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  expectAnthropicError,
  getJson,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';
import {
  importAccount,
  oauthProvider,
  oauthSettings,
  type TempTokenStore,
  tempTokenStore,
  routeAll,
} from '../support/oauth-gateway';
import { isAnthropicError, RawConnection, requestHead } from './raw-http';

const ADMIN = { 'x-api-key': 'adm-hostile-clients-9e2c5a8f1b' };
const CAROL_KEY = 'carol-hostile-7f3a1c9e5b2d8046';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('a request that frames its body twice', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('main', upstream.url)],
      model_routes: routeAll('main'),
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('should refuse Content-Length with Transfer-Encoding, close the connection and forward nothing', async () => {
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: userMessage() });
    const smuggled = `0\r\n\r\nPOST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const connection = await RawConnection.open(gateway.url);
    connection.write(
      requestHead('POST', '/v1/messages', {
        'content-type': 'application/json',
        'content-length': smuggled.length,
        'transfer-encoding': 'chunked',
      }) + smuggled,
    );
    const response = await connection.nextResponse(5_000, 'the answer to a twice-framed request');
    expect(response.status).toBe(400);
    expect(isAnthropicError(JSON.parse(response.body.toString()), 'invalid_request_error')).toBe(true);
    await connection.ended;
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('path tricks on /oauth/tokens/:account', () => {
  let upstream: FakeUpstream;
  let tokens: FakeTokenEndpoint;
  let store: TempTokenStore;
  let gateway: RunningGateway;
  const ACCOUNTS = ['ann@example.com', 'ben@example.com'];

  beforeAll(async () => {
    [upstream, tokens] = await Promise.all([startFakeUpstream(), startFakeTokenEndpoint()]);
    store = tempTokenStore();
    gateway = await startGateway({
      providers: [oauthProvider('subscription', upstream.url)],
      model_routes: routeAll('subscription'),
      settings: { admin_key: ADMIN['x-api-key'], oauth: oauthSettings(tokens, store.path) },
    });
    for (const email of ACCOUNTS) {
      tokens.addAccount({ email, plan: 'claude_max' });
      await importAccount(gateway.url, tokens, email, ADMIN);
    }
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([upstream?.close(), tokens?.close()]);
    store?.remove();
  });

  it.each([
    ['a traversal', '..%2F..%2Fetc%2Fpasswd'],
    ['a traversal to the other account', 'ann%40example.com%2F..%2Fben%40example.com'],
    ['a dot segment', '%2E%2E'],
    ['a NUL byte', 'ann%40example.com%00'],
    ['a glob', '*'],
    ['a pattern of every account', '%2A%40example.com'],
    ['an overlong name', 'a'.repeat(5_000)],
    ['a percent-encoding that does not decode', 'ann%40example.com%E0%A4%A'],
  ])('should forget nothing for %s', async (_name, account) => {
    const storeBefore = readFileSync(store.path, 'utf8');
    const answer = await request(`${gateway.url}/oauth/tokens/${account}`, { method: 'DELETE', headers: ADMIN });
    const text = await answer.body.text();
    expect([400, 404, 414]).toContain(answer.statusCode);
    expect(isAnthropicError(JSON.parse(text))).toBe(true);
    const listed = await getJson(`${gateway.url}/oauth/status`, ADMIN);
    expect((listed.body.accounts as { email: string }[]).map((a) => a.email).sort()).toEqual(ACCOUNTS);
    expect(readFileSync(store.path, 'utf8')).toBe(storeBefore);
  });
});

describe('a rate limit that a client tries to dodge', () => {
  let upstream: FakeUpstream;
  const gateways: RunningGateway[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    const config = {
      providers: [anthropicProvider('main', upstream.url)],
      model_routes: routeAll('main'),
      clients: [{ name: 'carol', key: CAROL_KEY, rpm: 4 }],
      settings: {
        deduplication: { enabled: false },
        state: { backend: 'redis', redis_url: REDIS_URL, key_prefix: `hostile-${randomUUID()}:` },
      },
    };
    gateways.push(await startGateway(config), await startGateway(config));
  });

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await upstream?.close();
  });

  it('should count both header forms of a key, on both replicas, against one limit', async () => {
    const forms: Record<string, string>[] = [{ 'x-api-key': CAROL_KEY }, { authorization: `Bearer ${CAROL_KEY}` }];
    const statuses: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      const answer = await postJson(
        `${gateways[i % 2]!.url}/v1/messages`,
        { model: 'claude-sonnet-4-5', max_tokens: 5, messages: userMessage(`dodge ${i}`) },
        forms[Math.floor(i / 2) % 2],
      );
      statuses.push(answer.status);
      if (answer.status !== 200) expectAnthropicError(answer, 429, 'rate_limit_error');
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429, 429, 429]);
    expect(upstream.requests).toHaveLength(4);
  });
});
