import { type FakeBehaviour, type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { eventually, providerRow } from '../support/e2e-helpers';
import {
  anthropicProvider,
  type JsonResponse,
  metricValue,
  postJson,
  type RunningGateway,
  sseEvents,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const MODEL = 'claude-sonnet-4-5';
/** Nothing listens on port 1, so connecting there is refused at once. */
const CLOSED_PORT_URL = 'http://127.0.0.1:1';

describe('failover inside one client request', () => {
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

  /** A fresh gateway per test, so that health, stickiness and metrics start from zero. */
  async function startTwoProviders(
    settings: Record<string, unknown> = {},
    firstUrl = first.url,
  ): Promise<RunningGateway> {
    gateway = await startGateway({
      providers: [anthropicProvider('first', firstUrl), anthropicProvider('second', second.url)],
      model_routes: {
        '*': [
          { provider: 'first', model: 'passthrough', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
      settings,
    });
    return gateway;
  }

  function ask(running: RunningGateway, stream: boolean, headers: Record<string, string> = {}): Promise<JsonResponse> {
    return postJson(
      `${running.url}/v1/messages`,
      { model: MODEL, max_tokens: 64, stream, messages: userMessage('failover please') },
      headers,
    );
  }

  /** The client saw a complete, normal answer from the second provider. */
  function expectAnsweredBySecond(response: JsonResponse, stream: boolean): void {
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('second');
    if (stream) {
      const events = sseEvents(response.text);
      expect(events[0]?.event).toBe('message_start');
      expect(events.at(-1)?.event).toBe('message_stop');
      expect(events.some((e) => e.event === 'error')).toBe(false);
      const text = events
        .filter((e) => e.event === 'content_block_delta')
        .map((e) => String(e.data.delta.text))
        .join('');
      expect(text).toBe('Hello from fake');
    } else {
      expect(response.body).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'Hello from fake' }] });
    }
  }

  const statusFaults: [string, FakeBehaviour][] = [
    ['500', { kind: 'status', status: 500 }],
    [
      '502',
      { kind: 'status', status: 502, body: '<html>502 Bad Gateway</html>', headers: { 'content-type': 'text/html' } },
    ],
    ['503', { kind: 'status', status: 503 }],
    ['529', { kind: 'status', status: 529, errorType: 'overloaded_error', message: 'Overloaded' }],
    ['429 with retry-after', { kind: 'status', status: 429, headers: { 'retry-after': '7' } }],
    ['401', { kind: 'status', status: 401, message: 'invalid x-api-key' }],
    ['403', { kind: 'status', status: 403 }],
    ['404', { kind: 'status', status: 404, message: 'model not found' }],
    [
      '400 whose body matches "insufficient credits"',
      { kind: 'status', status: 400, message: 'Your account has insufficient credits' },
    ],
    ['a connection reset before headers', { kind: 'reset' }],
  ];
  const cases = statusFaults.flatMap(([name, behaviour]) => [
    { name, behaviour, stream: true },
    { name, behaviour, stream: false },
  ]);

  it.each(cases)('should fail over to the next provider on $name (stream: $stream)', async ({ behaviour, stream }) => {
    const running = await startTwoProviders();
    first.enqueue(behaviour);

    const response = await ask(running, stream);

    expectAnsweredBySecond(response, stream);
    expect(first.requests).toHaveLength(1);
    expect(second.requests).toHaveLength(1);
    const row = await providerRow(running, 'first');
    expect(row.failure_count).toBe(1);
    expect(row.last_error).toEqual(expect.any(String));
  });

  it.each([true, false])(
    'should fail over when the first provider refuses the connection (stream: %s)',
    async (stream) => {
      const running = await startTwoProviders({}, CLOSED_PORT_URL);

      const response = await ask(running, stream);

      expectAnsweredBySecond(response, stream);
      expect(second.requests).toHaveLength(1);
      expect((await providerRow(running, 'first')).failure_count).toBe(1);
    },
  );

  it.each([true, false])(
    'should fail over when the first provider stalls past the first-byte timeout (stream: %s)',
    async (stream) => {
      const running = await startTwoProviders({ timeouts: { first_byte: 0.3 } });
      first.enqueue({ kind: 'stall' });

      const response = await ask(running, stream);

      expectAnsweredBySecond(response, stream);
      expect(first.requests).toHaveLength(1);
      expect(second.requests).toHaveLength(1);
      expect((await providerRow(running, 'first')).failure_count).toBe(1);
    },
  );

  it.each([
    { name: 'before any event', afterEvents: 0 },
    { name: 'after message_start', afterEvents: 1 },
    { name: 'after message_start and ping', afterEvents: 2 },
  ])('should fail over when the stream is cut $name, before any content', async ({ afterEvents }) => {
    const running = await startTwoProviders();
    first.enqueue({ kind: 'cut', afterEvents });

    const response = await ask(running, true);

    expectAnsweredBySecond(response, true);
    expect(first.requests).toHaveLength(1);
    expect(second.requests).toHaveLength(1);
    expect((await providerRow(running, 'first')).failure_count).toBe(1);
  });

  it('should fail over on a 200 stream whose first events end in an SSE error event', async () => {
    const running = await startTwoProviders();
    first.enqueue({ kind: 'sse-error', afterEvents: 1, errorType: 'overloaded_error', message: 'Overloaded' });

    const response = await ask(running, true);

    expectAnsweredBySecond(response, true);
    expect(sseEvents(response.text).filter((e) => e.event === 'message_start')).toHaveLength(1);
    expect(first.requests).toHaveLength(1);
    expect(second.requests).toHaveLength(1);
    expect((await providerRow(running, 'first')).failure_count).toBe(1);
  });

  it('should fail over on a 200 non-streaming answer whose body is an error', async () => {
    const running = await startTwoProviders();
    const errorBody = JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    first.enqueue({ kind: 'status', status: 200, body: errorBody });

    const response = await ask(running, false);

    expectAnsweredBySecond(response, false);
    expect(first.requests).toHaveLength(1);
    expect(second.requests).toHaveLength(1);
    expect((await providerRow(running, 'first')).failure_count).toBe(1);
  });

  it('should send the second provider the same request the first one got', async () => {
    const running = await startTwoProviders();
    first.enqueue({ kind: 'status', status: 529 });

    await ask(running, true, { 'anthropic-beta': 'interleaved-thinking-2025-05-14' });

    expect(second.requests[0]?.body).toEqual(first.requests[0]?.body);
    expect(second.requests[0]?.headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14');
    expect(first.requests[0]?.headers['x-api-key']).toBe('sk-provider-first-secret');
    expect(second.requests[0]?.headers['x-api-key']).toBe('sk-provider-second-secret');
  });

  it('should count the move in balancer_failovers_total{from,to}', async () => {
    // Without stickiness the second request starts on the first provider again instead of staying on the second.
    const running = await startTwoProviders({ sticky_provider_duration: 0 });
    first.enqueue({ kind: 'status', status: 500 }, { kind: 'status', status: 502 });

    await ask(running, true);
    await ask(running, false);

    expect(await metricValue(running, 'balancer_failovers_total', { from: 'first', to: 'second' })).toBe(2);
    expect(
      await metricValue(running, 'balancer_upstream_attempts_total', { provider: 'first', outcome: 'http_500' }),
    ).toBe(1);
    expect(
      await metricValue(running, 'balancer_upstream_attempts_total', { provider: 'second', outcome: 'success' }),
    ).toBe(2);
  });

  describe('client errors from upstream', () => {
    it.each([
      { status: 400, type: 'invalid_request_error', message: 'messages: text content blocks must be non-empty' },
      { status: 413, type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
      { status: 422, type: 'invalid_request_error', message: 'Unprocessable request' },
    ])(
      'should hand back upstream $status as it is, without failover or health penalty',
      async ({ status, type, message }) => {
        const running = await startTwoProviders();
        const body = JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_upstream_1' });
        first.enqueue({ kind: 'status', status, body }, { kind: 'status', status, body });

        for (const stream of [true, false]) {
          const response = await ask(running, stream);

          expect(response.status).toBe(status);
          expect(response.text).toBe(body);
          expect(response.headers['content-type']).toMatch(/^application\/json/);
        }
        expect(first.requests).toHaveLength(2);
        expect(second.requests).toHaveLength(0);
        const row = await providerRow(running, 'first');
        expect(row).toMatchObject({ healthy: true, failure_count: 0, cooldown_until: null, last_error: null });
        expect(await metricValue(running, 'balancer_failovers_total', { from: 'first', to: 'second' })).toBe(0);
      },
    );
  });

  describe('when every provider fails', () => {
    it('should answer 503 overloaded_error naming the model and each failure, without secrets', async () => {
      const running = await startTwoProviders();
      first.enqueue({ kind: 'status', status: 529, errorType: 'overloaded_error', message: 'Overloaded' });
      // An upstream that echoes the credential it was sent must not leak it through the gateway's error.
      second.enqueue({ kind: 'status', status: 401, message: 'invalid x-api-key: sk-provider-second-secret' });

      const response = await ask(running, true, { 'x-request-id': 'trace-all-fail-1' });

      expect(response.status).toBe(503);
      expect(response.headers['x-request-id']).toBe('trace-all-fail-1');
      expect(response.body).toMatchObject({
        type: 'error',
        error: { type: 'overloaded_error', message: expect.any(String) },
      });
      const message = response.body.error.message as string;
      expect(message).toContain(MODEL);
      expect(message).toMatch(/first: [^;]*529[^;]*Overloaded/);
      expect(message).toMatch(/second: [^;]*401/);
      expect(response.text).not.toContain('sk-provider-first-secret');
      expect(response.text).not.toContain('sk-provider-second-secret');
      expect(first.requests).toHaveLength(1);
      expect(second.requests).toHaveLength(1);
    });

    it('should name connection failures and timeouts as the reasons', async () => {
      const running = await startTwoProviders({ timeouts: { first_byte: 0.3 } }, CLOSED_PORT_URL);
      second.enqueue({ kind: 'stall' });

      const response = await ask(running, false);

      expect(response.status).toBe(503);
      expect(response.body.error.type).toBe('overloaded_error');
      const message = response.body.error.message as string;
      expect(message).toMatch(/first: [^;]*refused/i);
      expect(message).toMatch(/second: [^;]*timed out/i);
      await eventually(
        async () => (await providerRow(running, 'second')).failure_count === 1,
        'second failure counted',
      );
    });
  });
});
