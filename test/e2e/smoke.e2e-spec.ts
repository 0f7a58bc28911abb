import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  postJson,
  type RunningGateway,
  sseEvents,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

describe('gateway smoke', () => {
  let first: FakeUpstream;
  let second: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    [first, second] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    gateway = await startGateway({
      providers: [anthropicProvider('first', first.url), anthropicProvider('second', second.url)],
      model_routes: {
        '*': [
          { provider: 'first', model: 'passthrough', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await Promise.all([first.close(), second.close()]);
  });

  it('should answer a streaming request through the first provider', async () => {
    const response = await postJson(`${gateway.url}/v1/messages?beta=true`, {
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      stream: true,
      messages: userMessage(),
    });
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('first');
    const events = sseEvents(response.text).map((e) => e.event);
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('message_stop');
    expect(first.requests[0]?.path).toBe('/v1/messages?beta=true');
  });
});
