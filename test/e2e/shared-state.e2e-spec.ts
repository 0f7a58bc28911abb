import { randomUUID } from 'node:crypto';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  bearerOf,
  claudeCodeBody,
  codeFromLoginPage,
  oauthProvider,
  oauthSettings,
  routeAll,
  startLogin,
} from '../support/oauth-gateway';
import { eventually, providerRow } from '../support/e2e-helpers';
import {
  anthropicProvider,
  getJson,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Two gateway replicas in this process on the real Redis, under a key prefix of this test run's own. */
describe('two replicas sharing state on Redis', () => {
  let first: FakeUpstream;
  let second: FakeUpstream;
  let a: RunningGateway;
  let b: RunningGateway;

  const config = (prefix: string) => ({
    providers: [anthropicProvider('first', first.url), anthropicProvider('second', second.url)],
    model_routes: {
      '*': [
        { provider: 'first', model: 'passthrough', priority: 1 },
        { provider: 'second', model: 'passthrough', priority: 2 },
      ],
    },
    settings: {
      unhealthy_threshold: 2,
      failure_cooldown: 60,
      sticky_provider_duration: 0,
      deduplication: { enabled: false },
      state: { backend: 'redis', redis_url: REDIS_URL, key_prefix: prefix },
    },
  });

  beforeAll(async () => {
    [first, second] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    const prefix = `balancer-e2e:${randomUUID()}:`;
    a = await startGateway(config(prefix));
    b = await startGateway(config(prefix));
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([first.close(), second.close()]);
  });

  beforeEach(() => {
    first.reset();
    second.reset();
  });

  const ask = (gateway: RunningGateway, headers: Record<string, string> = {}) =>
    postJson(
      `${gateway.url}/v1/messages`,
      { model: 'claude-sonnet-4-5', max_tokens: 5, messages: userMessage() },
      headers,
    );

  it('should honour on replica B a cooldown that replica A started', async () => {
    first.enqueue({ kind: 'status', status: 500, message: 'boom' }, { kind: 'status', status: 500, message: 'boom' });
    expect((await ask(a)).headers['x-provider-used']).toBe('second');
    expect((await ask(a)).headers['x-provider-used']).toBe('second');
    await eventually(() => !b.providers.health.isUsable('first'), 'the cooldown to reach B', 2_000);
    const fromB = await ask(b);
    expect(fromB.status).toBe(200);
    expect(fromB.headers['x-provider-used']).toBe('second');
    expect(first.requests).toHaveLength(2);
    expect(await providerRow(b, 'first')).toMatchObject({ healthy: false, failure_count: 2 });
  });

  it('should report the shared backend as up in /health and the metrics', async () => {
    const health = await getJson(`${b.url}/health`);
    expect(health.status).toBe(200);
    expect(health.body.details.state).toEqual({ status: 'up', backend: 'redis' });
    const metrics = await getJson(`${a.url}/metrics`);
    expect(metrics.text).toMatch(/^balancer_state_backend_up 1$/m);
  });
});

describe('a replica whose Redis does not answer', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('only', upstream.url)],
      model_routes: { '*': [{ provider: 'only', model: 'passthrough', priority: 1 }] },
      // Nothing listens on port 9: every command fails at once.
      settings: { state: { backend: 'redis', redis_url: 'redis://127.0.0.1:9', key_prefix: 'nowhere:' } },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream.close();
  });

  it('should start and serve on its own state, showing the backend down without failing readiness', async () => {
    const answer = await postJson(`${gateway.url}/v1/messages`, {
      model: 'claude-sonnet-4-5',
      max_tokens: 5,
      messages: userMessage(),
    });
    expect(answer.status).toBe(200);
    const health = await getJson(`${gateway.url}/health`);
    expect(health.status).toBe(200);
    expect(health.body.details.state).toEqual({ status: 'down', backend: 'redis' });
    expect((await getJson(`${gateway.url}/metrics`)).text).toMatch(/^balancer_state_backend_up 0$/m);
  });

  it('should still count failures and cool a provider down on its own', async () => {
    upstream.enqueue({ kind: 'status', status: 500, message: 'x' }, { kind: 'status', status: 500, message: 'x' });
    await postJson(`${gateway.url}/v1/messages`, { model: 'm', max_tokens: 5, messages: userMessage() });
    await postJson(`${gateway.url}/v1/messages`, { model: 'm', max_tokens: 5, messages: userMessage() });
    expect(gateway.providers.health.isUsable('only')).toBe(false);
  });
});

describe('Claude accounts shared by two replicas on Redis', () => {
  let tokens: FakeTokenEndpoint;
  let upstream: FakeUpstream;
  let a: RunningGateway;
  let b: RunningGateway;
  const previousKey = process.env.BALANCER_STATE_KEY;

  beforeAll(async () => {
    [tokens, upstream] = await Promise.all([startFakeTokenEndpoint(), startFakeUpstream()]);
    upstream.requireOAuth(tokens.upstreamCheck);
    process.env.BALANCER_STATE_KEY = 'two-replicas-share-this-secret-0123456789';
    const config = {
      providers: [oauthProvider('seats', upstream.url)],
      model_routes: routeAll('seats'),
      settings: {
        oauth: oauthSettings(tokens, ''),
        // The same request on each replica in turn must reach the account twice, not be merged.
        deduplication: { enabled: false },
        state: { backend: 'redis', redis_url: REDIS_URL, key_prefix: `balancer-e2e:${randomUUID()}:` },
      },
    };
    a = await startGateway(config);
    b = await startGateway(config);
  });

  afterAll(async () => {
    if (previousKey === undefined) delete process.env.BALANCER_STATE_KEY;
    else process.env.BALANCER_STATE_KEY = previousKey;
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([tokens.close(), upstream.close()]);
  });

  it('should finish on B a login started on A, then serve that account from either replica', async () => {
    tokens.addAccount({ email: 'alice@example.com' });
    tokens.loginAs('alice@example.com');
    const login = await startLogin(a.url);
    const pasted = await codeFromLoginPage(login.login_url);
    const finished = await postJson(`${b.url}/oauth/callback`, { code: pasted });
    expect(finished.status).toBe(200);
    expect(finished.body.account.email).toBe('alice@example.com');

    for (const gateway of [a, b]) {
      const answer = await postJson(`${gateway.url}/v1/messages`, claudeCodeBody());
      expect(answer.status).toBe(200);
    }
    const used = upstream.requests.map((r) => tokens.emailFor(bearerOf(r.headers) ?? ''));
    expect(used).toEqual(['alice@example.com', 'alice@example.com']);
    expect((await getJson(`${a.url}/oauth/status`)).body.accounts).toEqual([
      expect.objectContaining({ email: 'alice@example.com', state: 'ok' }),
    ]);
  });
});
