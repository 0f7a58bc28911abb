import type { ServerResponse } from 'node:http';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { eventually, openMessageStream, providerRow, withTimeout } from '../support/e2e-helpers';
import {
  anthropicProvider,
  metricValue,
  postJson,
  type RunningGateway,
  sseEvents,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const MODEL = 'claude-sonnet-4-5';

function frame(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

const textDelta = (text: string) => frame('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });

const ANSWER_REST = [
  textDelta(' and the rest'),
  frame('content_block_stop', { index: 0 }),
  frame('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } }),
  frame('message_stop', {}),
];

/**
 * An upstream that sends the start of an answer and one text delta ("early words"), then writes nothing more until
 * `release` resolves, and then `rest`. The test resolves it only after the client has read that delta through the
 * gateway, so whatever follows is known to come after content reached the client.
 */
async function streamInTwoParts(res: ServerResponse, release: Promise<void>, rest = ANSWER_REST): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_two_parts' });
  res.write(
    frame('message_start', {
      message: {
        id: 'msg_two_parts',
        type: 'message',
        role: 'assistant',
        model: MODEL,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 12, output_tokens: 1 },
      },
    }),
  );
  res.write(frame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
  res.write(textDelta('early words'));
  await release;
  if (res.destroyed) return;
  for (const chunk of rest) res.write(chunk);
  res.end();
}

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('streaming through the gateway', () => {
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

  async function startTwoProviders(settings: Record<string, unknown> = {}): Promise<RunningGateway> {
    gateway = await startGateway({
      providers: [anthropicProvider('first', first.url), anthropicProvider('second', second.url)],
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

  const messageBody = (stream: boolean, text = 'stream please') => ({
    model: MODEL,
    max_tokens: 64,
    stream,
    messages: userMessage(text),
  });

  it('should pass each event on to the client as soon as the upstream produces it', async () => {
    const running = await startTwoProviders();
    const { opened: released, open: release } = gate();
    first.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        void streamInTwoParts(res, released);
      },
    });

    try {
      const response = await openMessageStream(running.url, messageBody(true));
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(response.headers['x-provider-used']).toBe('first');

      // The upstream has not finished: if the gateway held the stream back, this read would time out.
      await response.readUntil((text) => text.includes('early words'), 'the first text delta reaching the client');
      expect(response.text).not.toContain('message_stop');
      release();

      await response.readToEnd();
      const events = response.events();
      expect(events.map((e) => e.event)).toEqual([
        'message_start',
        'content_block_start',
        'content_block_delta',
        'content_block_delta',
        'content_block_stop',
        'message_delta',
        'message_stop',
      ]);
      expect(events.filter((e) => e.event === 'content_block_delta').map((e) => String(e.data.delta.text))).toEqual([
        'early words',
        ' and the rest',
      ]);
    } finally {
      release();
    }
  });

  it('should end a stream cut after content with an SSE error event and count the failure', async () => {
    const running = await startTwoProviders();
    // message_start, ping, content_block_start, one text delta, then the connection drops.
    first.enqueue({ kind: 'cut', afterEvents: 4 });

    const response = await postJson(`${running.url}/v1/messages`, messageBody(true));

    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('first');
    const events = sseEvents(response.text);
    expect(events.map((e) => e.event)).toContain('content_block_delta');
    expect(events.at(-1)?.event).toBe('error');
    expect(events.at(-1)?.data).toMatchObject({
      type: 'error',
      error: { type: expect.stringMatching(/^(api_error|overloaded_error)$/) },
    });
    expect(events.some((e) => e.event === 'message_stop' || e.event === 'message_delta')).toBe(false);
    expect(second.requests).toHaveLength(0);
    await eventually(
      async () => (await providerRow(running, 'first')).failure_count === 1,
      'the mid-stream failure is counted',
    );
  });

  it('should cool down a provider that breaks every stream after content, and move traffic away from it', async () => {
    const running = await startTwoProviders();
    first.setDefault({ kind: 'cut', afterEvents: 4 });

    for (let i = 0; i < 2; i += 1) {
      const response = await postJson(`${running.url}/v1/messages`, messageBody(true));
      expect(sseEvents(response.text).at(-1)?.event).toBe('error');
    }
    await eventually(async () => !(await providerRow(running, 'first')).healthy, 'the threshold starts a cooldown');

    const after = await postJson(`${running.url}/v1/messages`, messageBody(true));
    expect(after.headers['x-provider-used']).toBe('second');
    expect(sseEvents(after.text).at(-1)?.event).toBe('message_stop');
    expect(first.requests).toHaveLength(2);
  });

  it('should end a stream the upstream closes cleanly before message_stop with an SSE error event', async () => {
    const running = await startTwoProviders();
    first.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(
          frame('message_start', { message: { id: 'msg_short', type: 'message', role: 'assistant', content: [] } }),
        );
        res.write(frame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
        res.end(textDelta('half an ans'));
      },
    });

    const response = await postJson(`${running.url}/v1/messages`, messageBody(true));

    expect(response.status).toBe(200);
    const events = sseEvents(response.text);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'error',
    ]);
    expect(events.at(-1)?.data.error.type).toMatch(/^(api_error|overloaded_error)$/);
    expect(second.requests).toHaveLength(0);
    await eventually(async () => (await providerRow(running, 'first')).failure_count === 1, 'the early end is counted');
  });

  it('should pass on an upstream error event that follows delivered content, once, and count the failure', async () => {
    const running = await startTwoProviders();
    const { opened: released, open: release } = gate();
    const upstreamError = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded mid-answer' } };
    first.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        void streamInTwoParts(res, released, [frame('error', { error: upstreamError.error })]);
      },
    });

    try {
      const response = await openMessageStream(running.url, messageBody(true));
      await response.readUntil((text) => text.includes('early words'), 'the first text delta reaching the client');
      release();
      await response.readToEnd();

      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('first');
      const events = response.events();
      expect(events.filter((e) => e.event === 'error')).toHaveLength(1);
      expect(events.at(-1)).toEqual({ event: 'error', data: upstreamError });
      expect(events.some((e) => e.event === 'message_stop')).toBe(false);
      expect(second.requests).toHaveLength(0);
      await eventually(async () => (await providerRow(running, 'first')).failure_count === 1, 'the error is counted');
    } finally {
      release();
    }
  });

  it('should end a stream that goes silent past the idle timeout with an SSE error event', async () => {
    const running = await startTwoProviders({ timeouts: { idle: 0.3 } });
    first.enqueue({ kind: 'stall-stream', afterEvents: 4 });

    const response = await postJson(`${running.url}/v1/messages`, messageBody(true));

    expect(response.status).toBe(200);
    const events = sseEvents(response.text);
    expect(events.map((e) => e.event)).toContain('content_block_delta');
    expect(events.at(-1)?.event).toBe('error');
    expect(events.at(-1)?.data.error.message).toEqual(expect.stringContaining('first'));
    expect(events.some((e) => e.event === 'message_stop')).toBe(false);
    expect(second.requests).toHaveLength(0);
    await eventually(
      async () => (await providerRow(running, 'first')).failure_count === 1,
      'the idle timeout is counted',
    );
  });

  it('should cancel the upstream request when the client goes away mid-stream and keep serving', async () => {
    // With no grace, a call nobody is waiting for is cancelled at once (dedup tests cover the grace period).
    const running = await startTwoProviders({ deduplication: { orphan_grace: 0 } });
    first.enqueue({ kind: 'stall-stream', afterEvents: 4 });
    const abort = new AbortController();

    const response = await openMessageStream(running.url, messageBody(true), { signal: abort.signal });
    await response.readUntil((text) => text.includes('content_block_delta'), 'the first delta');
    abort.abort();

    await withTimeout(first.waitForClientAbort(), 5000, 'the gateway cancelling the upstream request');
    await eventually(
      async () => (await metricValue(running, 'balancer_inflight_requests', {})) === 0,
      'no request in flight',
    );
    expect(await providerRow(running, 'first')).toMatchObject({ healthy: true, failure_count: 0 });
    expect(second.requests).toHaveLength(0);

    const next = await postJson(`${running.url}/v1/messages`, messageBody(true, 'after the abort'));
    expect(next.status).toBe(200);
    expect(next.headers['x-provider-used']).toBe('first');
    expect(sseEvents(next.text).at(-1)?.event).toBe('message_stop');
  });

  it('should answer a non-streaming request with the message JSON and its usage', async () => {
    const running = await startTwoProviders();
    first.enqueue({ kind: 'message', usage: { input_tokens: 17, output_tokens: 4 } });

    const response = await postJson(`${running.url}/v1/messages`, messageBody(false));

    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.body).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'Hello from fake' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 17, output_tokens: 4 },
    });
    expect(await metricValue(running, 'balancer_tokens_total', { provider: 'first', type: 'input' })).toBe(17);
  });

  it('should count input, output and cache tokens from the stream usage in balancer_tokens_total', async () => {
    const running = await startTwoProviders();
    const usage = { input_tokens: 321, output_tokens: 54, cache_read_input_tokens: 7, cache_creation_input_tokens: 3 };
    first.enqueue({ kind: 'message', usage });

    const response = await postJson(`${running.url}/v1/messages`, messageBody(true));
    expect(response.status).toBe(200);

    const tokens = (type: string) =>
      metricValue(running, 'balancer_tokens_total', { provider: 'first', model: MODEL, client: 'anonymous', type });
    await eventually(async () => (await tokens('output')) === 54, 'output tokens counted');
    expect(await tokens('input')).toBe(321);
    expect(await tokens('cache_read')).toBe(7);
    expect(await tokens('cache_creation')).toBe(3);
  });

  it.each([true, false])(
    'should pass upstream request-id and anthropic-ratelimit headers to the client (stream: %s)',
    async (stream) => {
      const running = await startTwoProviders();
      first.enqueue({
        kind: 'message',
        headers: {
          'anthropic-ratelimit-requests-remaining': '41',
          'anthropic-ratelimit-tokens-reset': '2030-01-01T00:00:00Z',
          'x-internal-upstream': 'not for clients',
        },
      });

      const response = await postJson(`${running.url}/v1/messages`, messageBody(stream));

      expect(response.status).toBe(200);
      expect(response.headers['request-id']).toBe('req_fake_1');
      expect(response.headers['anthropic-ratelimit-requests-remaining']).toBe('41');
      expect(response.headers['anthropic-ratelimit-tokens-reset']).toBe('2030-01-01T00:00:00Z');
      expect(response.headers['x-internal-upstream']).toBeUndefined();
    },
  );

  it('should echo the client x-request-id and make one up when none is sent', async () => {
    const running = await startTwoProviders();

    const echoed = await postJson(`${running.url}/v1/messages`, messageBody(true), {
      'x-request-id': 'client-trace-42',
    });
    const generated = await postJson(`${running.url}/v1/messages`, messageBody(false));

    expect(echoed.status).toBe(200);
    expect(echoed.headers['x-request-id']).toBe('client-trace-42');
    expect(generated.status).toBe(200);
    expect(generated.headers['x-request-id']).toEqual(expect.stringMatching(/^\S{8,}$/));
    expect(generated.headers['x-request-id']).not.toBe('client-trace-42');
  });
});
