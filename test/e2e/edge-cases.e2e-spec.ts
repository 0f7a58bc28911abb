import { Agent, request } from 'undici';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  expectAnthropicError,
  metricValue,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';
import { eventually } from '../support/e2e-helpers';

describe('edge cases at the boundaries of a request', () => {
  let first: FakeUpstream;
  let second: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    [first, second] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    gateway = await startGateway({
      providers: [
        anthropicProvider('first', first.url),
        anthropicProvider('second', second.url),
        { name: 'oai', type: 'openai', base_url: `${second.url}/v1`, auth_value: 'sk-openai-edge-1' },
      ],
      model_routes: {
        'gpt-*': [{ provider: 'oai', model: 'passthrough', priority: 1 }],
        '*': [
          { provider: 'first', model: 'passthrough', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
      settings: { sticky_provider_duration: 0, unhealthy_threshold: 100, deduplication: { orphan_grace: 0.3 } },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await Promise.all([first.close(), second.close()]);
  });

  beforeEach(() => {
    first.reset();
    second.reset();
  });

  it('should fail over when a provider answers with a redirect instead of a message', async () => {
    first.enqueue({ kind: 'status', status: 301, body: '<html>moved</html>', headers: { location: 'https://login' } });
    const response = await postJson(`${gateway.url}/v1/messages`, {
      model: 'claude-x',
      max_tokens: 10,
      messages: userMessage(),
    });
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('second');
  });

  it('should answer 400, not 500, when content an OpenAI conversion needs is malformed', async () => {
    const response = await postJson(`${gateway.url}/v1/messages`, {
      model: 'gpt-x',
      max_tokens: 10,
      messages: [null],
    });
    expectAnthropicError(response, 400, 'invalid_request_error');
    expect(second.requests).toHaveLength(0);
  });

  it('should settle a streaming client that leaves before the answer starts, without a false 500', async () => {
    first.enqueue({ kind: 'stall', ms: 200 });
    const aborter = new AbortController();
    // Its own pool, destroyed below: a connection left idle in the global pool would hold the gateway's close open.
    const agent = new Agent();
    const pending = request(`${gateway.url}/v1/messages`, {
      dispatcher: agent,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-leaving', max_tokens: 10, stream: true, messages: userMessage() }),
      signal: aborter.signal,
    });
    await first.waitForRequests(1);
    aborter.abort();
    await expect(pending).rejects.toThrow();
    await agent.destroy();
    await eventually(
      async () => (await metricValue(gateway, 'balancer_inflight_requests', {})) === 0,
      'gauge back to 0',
    );
    const closed = await metricValue(gateway, 'balancer_requests_total', {
      model: 'claude-leaving',
      status: 'client_closed',
    });
    expect(closed).toBe(1);
    expect(await metricValue(gateway, 'balancer_requests_total', { provider: 'none', status: '500' })).toBe(0);
  });
});
