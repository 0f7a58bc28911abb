import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { eventually, providerRow } from '../support/e2e-helpers';
import {
  anthropicProvider,
  getJson,
  type JsonResponse,
  metricValue,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const MODEL = 'claude-sonnet-4-5';

describe('provider health: threshold, cooldown and recovery', () => {
  let first: FakeUpstream;
  let second: FakeUpstream;
  let gateway: RunningGateway | undefined;

  beforeAll(async () => {
    [first, second] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    first.reset();
    second.reset();
  });

  afterAll(async () => {
    await Promise.all([first.close(), second.close()]);
  });

  /** Stickiness is off so that every request starts on the first provider unless its health says otherwise. */
  async function startTwoProviders(settings: Record<string, unknown>): Promise<RunningGateway> {
    gateway = await startGateway({
      providers: [anthropicProvider('first', first.url), anthropicProvider('second', second.url)],
      model_routes: {
        '*': [
          { provider: 'first', model: 'passthrough', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
      settings: { sticky_provider_duration: 0, ...settings },
    });
    return gateway;
  }

  function ask(running: RunningGateway): Promise<JsonResponse> {
    return postJson(`${running.url}/v1/messages`, {
      model: MODEL,
      max_tokens: 64,
      stream: true,
      messages: userMessage('health'),
    });
  }

  const healthGauge = (running: RunningGateway, provider: string) =>
    metricValue(running, 'balancer_provider_healthy', { provider });

  it('should skip a provider once it reaches the unhealthy threshold and report it unhealthy', async () => {
    const running = await startTwoProviders({ unhealthy_threshold: 2, failure_cooldown: 60 });
    first.setDefault({ kind: 'status', status: 500 });
    expect(await healthGauge(running, 'first')).toBe(1);

    expect((await ask(running)).headers['x-provider-used']).toBe('second');
    expect(await providerRow(running, 'first')).toMatchObject({
      healthy: true,
      failure_count: 1,
      cooldown_until: null,
    });
    expect(await healthGauge(running, 'first')).toBe(1);

    const before = Date.now();
    expect((await ask(running)).headers['x-provider-used']).toBe('second');
    const row = await providerRow(running, 'first');
    expect(row).toMatchObject({ healthy: false, failure_count: 2, last_error: expect.stringContaining('500') });
    const cooldownUntil = Date.parse(row.cooldown_until ?? '');
    expect(cooldownUntil).toBeGreaterThanOrEqual(before + 59_000);
    expect(cooldownUntil).toBeLessThanOrEqual(Date.now() + 61_000);
    expect(await healthGauge(running, 'first')).toBe(0);
    expect(await healthGauge(running, 'second')).toBe(1);

    const third = await ask(running);
    expect(third.status).toBe(200);
    expect(third.headers['x-provider-used']).toBe('second');
    expect(first.requests).toHaveLength(2);
    expect(second.requests).toHaveLength(3);
    expect((await getJson(`${running.url}/health`)).status).toBe(200);
  });

  it('should end an expired cooldown without traffic and route to the provider again', async () => {
    const running = await startTwoProviders({ unhealthy_threshold: 2, failure_cooldown: 1 });
    first.enqueue({ kind: 'status', status: 503 }, { kind: 'status', status: 503 });
    await ask(running);
    await ask(running);
    expect(await healthGauge(running, 'first')).toBe(0);
    expect(first.requests).toHaveLength(2);

    // Only the scheduled job resets the failure count and the gauge; reading /providers alone would not.
    await eventually(async () => {
      const row = await providerRow(running, 'first');
      return (
        row.healthy &&
        row.failure_count === 0 &&
        row.cooldown_until === null &&
        (await healthGauge(running, 'first')) === 1
      );
    }, 'the cooldown job marks the first provider healthy again');
    expect(first.requests).toHaveLength(2);
    expect(second.requests).toHaveLength(2);

    const response = await ask(running);
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('first');
    expect(first.requests).toHaveLength(3);
  });

  it('should reset the failure count when the provider succeeds', async () => {
    const running = await startTwoProviders({ unhealthy_threshold: 2, failure_cooldown: 60 });
    first.enqueue({ kind: 'status', status: 500 });

    expect((await ask(running)).headers['x-provider-used']).toBe('second');
    expect((await providerRow(running, 'first')).failure_count).toBe(1);
    expect((await ask(running)).headers['x-provider-used']).toBe('first');
    expect((await providerRow(running, 'first')).failure_count).toBe(0);

    first.enqueue({ kind: 'status', status: 500 });
    expect((await ask(running)).headers['x-provider-used']).toBe('second');
    expect(await providerRow(running, 'first')).toMatchObject({ healthy: true, failure_count: 1 });
  });

  it('should cool a provider down at once, below the threshold, for the retry-after of a 429', async () => {
    const running = await startTwoProviders({ unhealthy_threshold: 5, failure_cooldown: 1 });
    first.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });

    const before = Date.now();
    expect((await ask(running)).headers['x-provider-used']).toBe('second');

    const row = await providerRow(running, 'first');
    expect(row).toMatchObject({ healthy: false, failure_count: 1 });
    const cooldownUntil = Date.parse(row.cooldown_until ?? '');
    expect(cooldownUntil).toBeGreaterThanOrEqual(before + 29_000);
    expect(cooldownUntil).toBeLessThanOrEqual(Date.now() + 31_000);
    expect(await healthGauge(running, 'first')).toBe(0);

    expect((await ask(running)).headers['x-provider-used']).toBe('second');
    expect(first.requests).toHaveLength(1);
  });

  it('should cool a provider down until an exhausted anthropic-ratelimit reset on a 429', async () => {
    const running = await startTwoProviders({ unhealthy_threshold: 5, failure_cooldown: 1 });
    const reset = new Date(Date.now() + 45_000).toISOString();
    first.enqueue({
      kind: 'status',
      status: 429,
      headers: { 'anthropic-ratelimit-tokens-remaining': '0', 'anthropic-ratelimit-tokens-reset': reset },
    });

    expect((await ask(running)).headers['x-provider-used']).toBe('second');

    const row = await providerRow(running, 'first');
    expect(row).toMatchObject({ healthy: false, failure_count: 1 });
    expect(Math.abs(Date.parse(row.cooldown_until ?? '') - Date.parse(reset))).toBeLessThanOrEqual(1000);
    expect((await ask(running)).headers['x-provider-used']).toBe('second');
    expect(first.requests).toHaveLength(1);
  });

  it('should answer 503 with retry-after without calling anyone while every provider cools down', async () => {
    const running = await startTwoProviders({ unhealthy_threshold: 1, failure_cooldown: 60 });
    first.enqueue({ kind: 'status', status: 500 });
    second.enqueue({ kind: 'status', status: 529 });
    expect((await ask(running)).status).toBe(503);

    const response = await ask(running);

    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    expect(response.body.error.message).toContain(MODEL);
    expect(response.body.error.message).toMatch(/first: .*cooling down/);
    expect(response.body.error.message).toMatch(/second: .*cooling down/);
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
    expect(first.requests).toHaveLength(1);
    expect(second.requests).toHaveLength(1);
    expect((await getJson(`${running.url}/health`)).status).toBe(503);
  });
});
