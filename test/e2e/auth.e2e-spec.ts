import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'undici';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  expectAnthropicError,
  getJson,
  type JsonResponse,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const ALICE_KEY = 'client-alice-key-0001';
const CAROL_KEY = 'client-carol-key-0002';
const BOB_KEY = 'client-bob-key-0003';
const ADMIN_KEY = 'admin-key-secret-999';
const METRICS_KEY = 'metrics-key-secret-777';
const PROXY_PASSWORD = 'pass-secret-123';
const BASE_URL_PASSWORD = 'base-url-secret-321';
const TOKEN_SECRET = 'sk-provider-bearer-secret';
const BETA = 'prompt-caching-2024-07-31,context-management-2025-06-27';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface ProviderRow {
  name: string;
  enabled: boolean;
  healthy: boolean;
  failure_count: number;
  last_error: string | null;
}

const providerRows = (response: JsonResponse) => response.body.providers as ProviderRow[];

const messageBody = (model = 'claude-sonnet-4-5') => ({ model, max_tokens: 32, messages: userMessage() });

/** Every header value the upstream saw, flattened, for "this secret is nowhere" checks. */
function headerValues(headers: IncomingHttpHeaders): string[] {
  return Object.values(headers).flatMap((value) => (Array.isArray(value) ? value : value === undefined ? [] : [value]));
}

describe('client and admin authentication', () => {
  let apiKeyFake: FakeUpstream;
  let tokenFake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    [apiKeyFake, tokenFake] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    gateway = await startGateway({
      providers: [
        anthropicProvider('keyed', apiKeyFake.url),
        anthropicProvider('tokened', tokenFake.url, { auth_type: 'auth_token', auth_value: TOKEN_SECRET }),
        anthropicProvider('proxied', `http://relay-user:${BASE_URL_PASSWORD}@127.0.0.1:9/prefix`, {
          enabled: false,
          proxy: `http://user:${PROXY_PASSWORD}@127.0.0.1:9`,
        }),
      ],
      model_routes: {
        'token-model': [{ provider: 'tokened', model: 'passthrough', priority: 1 }],
        '*sonnet*': [{ provider: 'keyed', model: 'passthrough', priority: 1 }],
        '*haiku*': [{ provider: 'keyed', model: 'passthrough', priority: 1 }],
        '*': [{ provider: 'proxied', model: 'passthrough', priority: 1 }],
      },
      clients: [
        { name: 'alice', key: ALICE_KEY },
        { name: 'carol', key_sha256: sha256(CAROL_KEY) },
        { name: 'bob', key: BOB_KEY, models: ['*haiku*'] },
      ],
      settings: { admin_key: ADMIN_KEY, metrics_key: METRICS_KEY },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await Promise.all([apiKeyFake.close(), tokenFake.close()]);
  });

  beforeEach(() => {
    apiKeyFake.reset();
    tokenFake.reset();
  });

  const messages = (headers: Record<string, string>, body: unknown = messageBody()) =>
    postJson(`${gateway.url}/v1/messages`, body, headers);

  it('should answer 401 authentication_error in Anthropic shape when no key is sent', async () => {
    const response = await messages({});
    expectAnthropicError(response, 401, 'authentication_error');
    expect(apiKeyFake.requests).toHaveLength(0);
  });

  it('should answer 401 for a wrong key in either header', async () => {
    expectAnthropicError(await messages({ 'x-api-key': 'client-nobody-key' }), 401, 'authentication_error');
    expectAnthropicError(await messages({ authorization: 'Bearer client-nobody-key' }), 401, 'authentication_error');
    expect(apiKeyFake.requests).toHaveLength(0);
  });

  it('should accept a configured key sent as x-api-key', async () => {
    const response = await messages({ 'x-api-key': ALICE_KEY });
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('keyed');
  });

  it('should accept a configured key sent as Authorization: Bearer', async () => {
    const response = await messages({ authorization: `Bearer ${ALICE_KEY}` });
    expect(response.status).toBe(200);
  });

  it('should accept a client configured by key_sha256 in either header', async () => {
    expect((await messages({ 'x-api-key': CAROL_KEY })).status).toBe(200);
    expect((await messages({ authorization: `Bearer ${CAROL_KEY}` })).status).toBe(200);
    expectAnthropicError(await messages({ 'x-api-key': sha256(CAROL_KEY) }), 401, 'authentication_error');
  });

  it('should answer 403 permission_error when the model is outside the client allowlist', async () => {
    const denied = await messages({ 'x-api-key': BOB_KEY }, messageBody('claude-sonnet-4-5'));
    expectAnthropicError(denied, 403, 'permission_error');
    expect(denied.body.error.message).toContain('claude-sonnet-4-5');
    expect(apiKeyFake.requests).toHaveLength(0);
    const allowed = await messages({ 'x-api-key': BOB_KEY }, messageBody('claude-3-5-haiku-20241022'));
    expect(allowed.status).toBe(200);
  });

  it('should send the api_key provider credential as x-api-key and never the client key', async () => {
    await messages({ 'x-api-key': ALICE_KEY });
    await messages({ authorization: `Bearer ${ALICE_KEY}` });
    expect(apiKeyFake.requests).toHaveLength(2);
    for (const { headers, rawBody } of apiKeyFake.requests) {
      expect(headers['x-api-key']).toBe('sk-provider-keyed-secret');
      expect(headers.authorization).toBeUndefined();
      expect(headerValues(headers).join('\n')).not.toContain(ALICE_KEY);
      expect(rawBody).not.toContain(ALICE_KEY);
    }
  });

  it('should send the auth_token provider credential as Authorization: Bearer and no x-api-key', async () => {
    const response = await messages({ 'x-api-key': ALICE_KEY }, messageBody('token-model'));
    expect(response.status).toBe(200);
    const [upstream] = tokenFake.requests;
    expect(upstream?.headers.authorization).toBe(`Bearer ${TOKEN_SECRET}`);
    expect(upstream?.headers['x-api-key']).toBeUndefined();
    expect(headerValues(upstream!.headers).join('\n')).not.toContain(ALICE_KEY);
  });

  it('should forward anthropic-version, defaulting to 2023-06-01, and anthropic-beta unchanged', async () => {
    await messages({ 'x-api-key': ALICE_KEY });
    await messages({ 'x-api-key': ALICE_KEY, 'anthropic-version': '2024-10-22', 'anthropic-beta': BETA });
    expect(apiKeyFake.requests[0]?.headers['anthropic-version']).toBe('2023-06-01');
    expect(apiKeyFake.requests[0]?.headers['anthropic-beta']).toBeUndefined();
    expect(apiKeyFake.requests[1]?.headers['anthropic-version']).toBe('2024-10-22');
    expect(apiKeyFake.requests[1]?.headers['anthropic-beta']).toBe(BETA);
  });

  it('should not forward client-only and hop-by-hop headers as they are', async () => {
    const response = await messages({
      'x-api-key': ALICE_KEY,
      host: 'client-side.example:8443',
      connection: 'keep-alive',
      'x-stainless-os': 'Linux',
      'x-stainless-lang': 'js',
      'x-stainless-retry-count': '0',
      'x-forwarded-for': '10.1.2.3',
      cookie: 'session=abc',
      'proxy-authorization': 'Basic dXNlcjpwYXNz',
      'x-unknown-client-header': 'do-not-leak',
    });
    expect(response.status).toBe(200);
    const { headers } = apiKeyFake.requests[0]!;
    expect(Object.keys(headers).filter((name) => name.startsWith('x-stainless-'))).toEqual([]);
    expect(headers.host).toBe(new URL(apiKeyFake.url).host);
    expect(headers['x-forwarded-for']).toBeUndefined();
    expect(headers.cookie).toBeUndefined();
    expect(headers['proxy-authorization']).toBeUndefined();
    expect(headers['x-unknown-client-header']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
  });

  it('should require a client key for /v1/models and count_tokens too', async () => {
    expectAnthropicError(await getJson(`${gateway.url}/v1/models`), 401, 'authentication_error');
    expect((await getJson(`${gateway.url}/v1/models`, { 'x-api-key': ALICE_KEY })).status).toBe(200);
    const count = { model: 'claude-sonnet-4-5', messages: userMessage() };
    expectAnthropicError(await postJson(`${gateway.url}/v1/messages/count_tokens`, count), 401, 'authentication_error');
    const counted = await postJson(`${gateway.url}/v1/messages/count_tokens`, count, { 'x-api-key': ALICE_KEY });
    expect(counted.status).toBe(200);
    expect(headerValues(apiKeyFake.requests[0]!.headers).join('\n')).not.toContain(ALICE_KEY);
  });

  it('should keep HEAD /, GET / and the health endpoints open to anyone', async () => {
    expect((await request(`${gateway.url}/`, { method: 'HEAD' })).statusCode).toBe(200);
    expect((await getJson(`${gateway.url}/`)).status).toBe(200);
    expect((await getJson(`${gateway.url}/health`)).status).toBe(200);
    expect((await getJson(`${gateway.url}/health/live`)).status).toBe(200);
  });

  it('should keep a credential the upstream echoes back out of error bodies and GET /providers', async () => {
    const echo = `invalid x-api-key sk-provider-keyed-secret (and the client sent ${ALICE_KEY})`;
    apiKeyFake.enqueue({ kind: 'status', status: 401, message: echo });
    const failed = await messages({ 'x-api-key': ALICE_KEY });
    expect(failed.status).toBe(503);
    expect(failed.text).not.toContain('sk-provider-keyed-secret');
    expect(failed.text).not.toContain(ALICE_KEY);
    const listed = await getJson(`${gateway.url}/providers`, { 'x-api-key': ADMIN_KEY });
    const keyed = providerRows(listed).find((p) => p.name === 'keyed')!;
    expect(keyed.last_error).toContain('401');
    expect(listed.text).not.toContain('sk-provider-keyed-secret');
    expect(listed.text).not.toContain(ALICE_KEY);
  });

  it('should refuse GET /providers without the admin key', async () => {
    expectAnthropicError(await getJson(`${gateway.url}/providers`), 401, 'authentication_error');
    expectAnthropicError(
      await getJson(`${gateway.url}/providers`, { 'x-api-key': 'wrong' }),
      401,
      'authentication_error',
    );
  });

  it('should answer GET /providers with the admin key in either header', async () => {
    const viaApiKey = await getJson(`${gateway.url}/providers`, { 'x-api-key': ADMIN_KEY });
    expect(viaApiKey.status).toBe(200);
    expect(providerRows(viaApiKey).map((p) => p.name)).toEqual(['keyed', 'tokened', 'proxied']);
    const viaBearer = await getJson(`${gateway.url}/providers`, { authorization: `Bearer ${ADMIN_KEY}` });
    expect(viaBearer.status).toBe(200);
  });

  it('should not accept a client key as the admin key', async () => {
    expectAnthropicError(
      await getJson(`${gateway.url}/providers`, { 'x-api-key': ALICE_KEY }),
      401,
      'authentication_error',
    );
    expectAnthropicError(
      await getJson(`${gateway.url}/providers`, { authorization: `Bearer ${ALICE_KEY}` }),
      401,
      'authentication_error',
    );
  });

  it('should not accept the admin key as a client key', async () => {
    expectAnthropicError(await messages({ 'x-api-key': ADMIN_KEY }), 401, 'authentication_error');
  });

  it('should require settings.metrics_key for /metrics', async () => {
    expectAnthropicError(await getJson(`${gateway.url}/metrics`), 401, 'authentication_error');
    expectAnthropicError(
      await getJson(`${gateway.url}/metrics`, { 'x-api-key': ALICE_KEY }),
      401,
      'authentication_error',
    );
    const scraped = await getJson(`${gateway.url}/metrics`, { 'x-api-key': METRICS_KEY });
    expect(scraped.status).toBe(200);
    expect(scraped.text).toContain('balancer_requests_total');
    expect((await getJson(`${gateway.url}/metrics`, { authorization: `Bearer ${METRICS_KEY}` })).status).toBe(200);
  });

  it('should never show credentials, client keys or proxy passwords in GET /providers', async () => {
    const response = await getJson(`${gateway.url}/providers`, { 'x-api-key': ADMIN_KEY });
    expect(response.status).toBe(200);
    for (const secret of [
      'sk-provider-keyed-secret',
      TOKEN_SECRET,
      'sk-provider-proxied-secret',
      PROXY_PASSWORD,
      BASE_URL_PASSWORD,
      ALICE_KEY,
      CAROL_KEY,
      BOB_KEY,
      sha256(CAROL_KEY),
      ADMIN_KEY,
      METRICS_KEY,
    ]) {
      expect(response.text).not.toContain(secret);
    }
    const proxied = providerRows(response).find((p) => p.name === 'proxied');
    expect(proxied).toMatchObject({ enabled: false, healthy: false });
  });
});

describe('passthrough providers behind client keys', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('relay', fake.url, { auth_type: 'passthrough', auth_value: undefined })],
      model_routes: { '*': [{ provider: 'relay', model: 'passthrough', priority: 1 }] },
      clients: [{ name: 'alice', key: ALICE_KEY }],
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  beforeEach(() => fake.reset());

  it("should forward the client's own credential but never the gateway key", async () => {
    const response = await postJson(`${gateway.url}/v1/messages`, messageBody(), {
      'x-api-key': ALICE_KEY,
      authorization: 'Bearer own-oauth-token-456',
    });
    expect(response.status).toBe(200);
    const { headers } = fake.requests[0]!;
    expect(headers.authorization).toBe('Bearer own-oauth-token-456');
    expect(headers['x-api-key']).toBeUndefined();
    expect(headerValues(headers).join('\n')).not.toContain(ALICE_KEY);
  });

  it('should not send the gateway key upstream when the client has no credential of its own', async () => {
    const response = await postJson(`${gateway.url}/v1/messages`, messageBody(), {
      authorization: `Bearer ${ALICE_KEY}`,
    });
    expectAnthropicError(response, 401, 'authentication_error');
    expect(response.text).not.toContain(ALICE_KEY);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('passthrough credentials and open management without keys', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('relay', fake.url, { auth_type: 'passthrough', auth_value: undefined })],
      model_routes: { '*': [{ provider: 'relay', model: 'passthrough', priority: 1 }] },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  beforeEach(() => fake.reset());

  it("should forward the client's own x-api-key to a passthrough provider", async () => {
    const response = await postJson(`${gateway.url}/v1/messages`, messageBody(), {
      'x-api-key': 'sk-ant-own-client-key',
    });
    expect(response.status).toBe(200);
    expect(fake.requests[0]?.headers['x-api-key']).toBe('sk-ant-own-client-key');
    expect(fake.requests[0]?.headers.authorization).toBeUndefined();
  });

  it("should forward the client's own Authorization header to a passthrough provider", async () => {
    const response = await postJson(`${gateway.url}/v1/messages`, messageBody(), {
      authorization: 'Bearer own-oauth-token-123',
    });
    expect(response.status).toBe(200);
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer own-oauth-token-123');
    expect(fake.requests[0]?.headers['x-api-key']).toBeUndefined();
  });

  it('should let loopback callers use GET /providers when no admin key is set', async () => {
    const response = await getJson(`${gateway.url}/providers`);
    expect(response.status).toBe(200);
    expect(response.body.providers[0]).toMatchObject({ name: 'relay', enabled: true, healthy: true });
  });

  it('should serve /metrics without a key when no metrics_key is set', async () => {
    const response = await getJson(`${gateway.url}/metrics`);
    expect(response.status).toBe(200);
  });
});
