import { request } from 'undici';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  getJson,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';
import { LifecycleState } from '../../src/health/lifecycle.state';
import { VERSION } from '../../src/version';

const MODEL = 'claude-sonnet-4-5';
const countBody = {
  model: MODEL,
  system: 'You are a careful assistant.',
  messages: userMessage('How many tokens is this sentence, roughly speaking?'),
};

describe('service endpoints', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('main', fake.url), anthropicProvider('spare', fake.url, { enabled: false })],
      model_routes: {
        'claude-opus-4-1': [{ provider: 'main', model: 'passthrough', priority: 1 }],
        '*sonnet*': [{ provider: 'main', model: 'passthrough', priority: 1 }],
        '*haiku*': [{ provider: 'main', model: 'passthrough', priority: 1 }],
      },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  beforeEach(() => fake.reset());

  it('should answer HEAD / with 200 and no body', async () => {
    const response = await request(`${gateway.url}/`, { method: 'HEAD' });
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toBe('');
    expect(response.headers['x-request-id']).toEqual(expect.any(String));
  });

  it('should describe the service on GET /', async () => {
    const response = await getJson(`${gateway.url}/`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ service: expect.any(String), version: VERSION, providers_available: 1 });
  });

  it('should answer GET /health with 200 in Terminus shape while a provider is usable', async () => {
    const response = await getJson(`${gateway.url}/health`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: 'ok',
      info: { providers: { status: 'up' } },
      error: {},
      details: { providers: { status: 'up' } },
    });
  });

  it('should answer GET /health/live with 200', async () => {
    const response = await getJson(`${gateway.url}/health/live`);
    expect(response.status).toBe(200);
  });

  it('should list the routed names and patterns on GET /v1/models in Anthropic list shape', async () => {
    const response = await getJson(`${gateway.url}/v1/models`);
    expect(response.status).toBe(200);
    const ids = ['claude-opus-4-1', '*sonnet*', '*haiku*'];
    expect(response.body).toMatchObject({ has_more: false, first_id: ids[0], last_id: ids[2] });
    expect((response.body.data as { id: string }[]).map((m) => m.id)).toEqual(ids);
    for (const model of response.body.data) {
      expect(model).toMatchObject({ type: 'model', id: expect.any(String), display_name: expect.any(String) });
      expect(Number.isNaN(Date.parse(model.created_at))).toBe(false);
    }
  });

  it("should answer count_tokens with the provider's own count when it has one", async () => {
    const response = await postJson(`${gateway.url}/v1/messages/count_tokens?beta=true`, countBody);
    expect(response.status).toBe(200);
    expect(response.headers['x-token-count-source']).toBe('main');
    // The fake counts a quarter of the JSON length of `messages`.
    expect(response.body).toEqual({ input_tokens: Math.round(JSON.stringify(countBody.messages).length / 4) });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.path).toBe('/v1/messages/count_tokens?beta=true');
    expect(fake.requests[0]?.headers['x-api-key']).toBe('sk-provider-main-secret');
    expect(fake.requests[0]?.rawBody).toBe(JSON.stringify(countBody));
  });

  it('should count locally with js-tiktoken when the provider answers 404', async () => {
    fake.enqueue({ kind: 'status', status: 404 });
    const response = await postJson(`${gateway.url}/v1/messages/count_tokens`, countBody);
    expect(response.status).toBe(200);
    expect(response.headers['x-token-count-source']).toBe('local');
    expect(response.body.input_tokens).toBeGreaterThan(0);
    expect(Object.keys(response.body)).toEqual(['input_tokens']);
    expect(fake.requests).toHaveLength(1);
  });

  it('should not count a count_tokens 404 against the provider health', async () => {
    fake.enqueue({ kind: 'status', status: 404 }, { kind: 'status', status: 404 }, { kind: 'status', status: 404 });
    for (let i = 0; i < 3; i++) {
      expect((await postJson(`${gateway.url}/v1/messages/count_tokens`, countBody)).status).toBe(200);
    }
    const providers = await getJson(`${gateway.url}/providers`);
    expect(providers.body.providers[0]).toMatchObject({ name: 'main', healthy: true, failure_count: 0 });
  });

  it('should answer count_tokens bad input in Anthropic shape', async () => {
    const missing = await postJson(`${gateway.url}/v1/messages/count_tokens`, { model: MODEL });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(missing.body.error.message).toContain('messages');
    const unrouted = await postJson(`${gateway.url}/v1/messages/count_tokens`, { ...countBody, model: 'gpt-4o' });
    expect(unrouted.status).toBe(404);
    expect(unrouted.body.error.type).toBe('not_found_error');
  });

  it('should expose the gateway metrics and the default process metrics on /metrics', async () => {
    expect(
      (await postJson(`${gateway.url}/v1/messages`, { model: MODEL, max_tokens: 8, messages: userMessage() })).status,
    ).toBe(200);
    const response = await request(`${gateway.url}/metrics`);
    const text = await response.body.text();
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    expect(text).toMatch(/^balancer_requests_total\{[^}]*provider="main"[^}]*status="200"[^}]*\} 1$/m);
    expect(text).toMatch(/^balancer_upstream_attempts_total\{provider="main",outcome="success"\} 1$/m);
    expect(text).toMatch(/^balancer_provider_healthy\{provider="main"\} 1$/m);
    expect(text).toMatch(/^balancer_inflight_requests 0$/m);
    expect(text).toContain('# TYPE balancer_request_duration_seconds histogram');
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
  });
});

describe('while the process drains for shutdown', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('main', fake.url)],
      model_routes: { '*': [{ provider: 'main', model: 'passthrough' }] },
    });
    gateway.app.get(LifecycleState).draining = true;
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  it('should refuse new requests with 503 overloaded_error in Anthropic shape and close the connection', async () => {
    const response = await postJson(`${gateway.url}/v1/messages`, {
      model: MODEL,
      max_tokens: 5,
      messages: userMessage(),
    });
    expect(response.status).toBe(503);
    expect(response.headers.connection).toBe('close');
    expect(response.body).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    expect(fake.requests).toHaveLength(0);
  });

  it('should still answer the probes, readiness saying it is shutting down', async () => {
    expect((await getJson(`${gateway.url}/health/live`)).status).toBe(200);
    const ready = await getJson(`${gateway.url}/health`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(ready.body)).toContain('shutting down');
  });
});

describe('GET /health when no provider is usable', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('only', fake.url), anthropicProvider('off', fake.url, { enabled: false })],
      model_routes: { '*': [{ provider: 'only', model: 'passthrough', priority: 1 }] },
      settings: { unhealthy_threshold: 1, failure_cooldown: 120 },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  it('should answer 503 in Terminus shape once the only enabled provider is cooling down', async () => {
    expect((await getJson(`${gateway.url}/health`)).status).toBe(200);
    fake.enqueue({ kind: 'status', status: 500 });
    const failed = await postJson(`${gateway.url}/v1/messages`, {
      model: MODEL,
      max_tokens: 8,
      messages: userMessage(),
    });
    expect(failed.status).toBe(503);
    expect(failed.body.error.type).toBe('overloaded_error');

    const health = await getJson(`${gateway.url}/health`);
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      status: 'error',
      error: { providers: { status: 'down' } },
      details: { providers: { status: 'down' } },
    });
    expect((await getJson(`${gateway.url}/health/live`)).status).toBe(200);
    expect((await getJson(`${gateway.url}/`)).body.providers_available).toBe(0);
    const metrics = await getJson(`${gateway.url}/metrics`);
    expect(metrics.text).toMatch(/^balancer_provider_healthy\{provider="only"\} 0$/m);
  });
});
