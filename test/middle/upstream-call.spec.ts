import { RecordingReader } from '../../src/dedup/dedup.store.contract';
import type { CallSink } from '../../src/messages/call-answer';
import { openStreamGate } from '../../src/messages/stream-gate';
import { pumpStream } from '../../src/messages/stream-pump';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { messageRequest, provider, upstreamServices } from './upstream-call.fixture';

/** The executor, the stream gate and the pump against loopback fakes, without Nest. */
describe('an upstream call, from plan to last chunk', () => {
  let first: FakeUpstream;
  let second: FakeUpstream;
  let services: ReturnType<typeof upstreamServices>;
  const never = new AbortController().signal;
  const pumpContext = (name: string) => ({
    provider: name,
    patterns: [],
    signal: never,
    scrub: (text: string) => text,
  });

  beforeAll(async () => {
    [first, second] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
  });

  afterAll(async () => {
    await Promise.all([first.close(), second.close()]);
  });

  beforeEach(() => {
    first.reset();
    second.reset();
    services = upstreamServices({
      providers: [provider('first', first.url), provider('second', second.url)],
      model_routes: {
        '*': [
          { provider: 'first', model: 'passthrough', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
      settings: { sticky_provider_duration: 0, unhealthy_threshold: 1, failure_cooldown: 60 },
    });
  });

  const body = (stream: boolean) => ({
    model: 'claude-middle',
    max_tokens: 16,
    stream,
    messages: [{ role: 'user', content: 'hi' }],
  });

  /** Plans a request and opens its candidates until one answers, as the messages service does. */
  const openCall = async (stream: boolean) => {
    const request = messageRequest(body(stream));
    const plan = await services.executor.plan(request, services.runtime);
    return { plan, delivery: await services.executor.open(request, plan, services.runtime, never) };
  };

  it('should move along the plan past a failing candidate, and remember why it failed', async () => {
    first.enqueue({ kind: 'status', status: 529, errorType: 'overloaded_error', message: 'busy' });
    const { plan, delivery } = await openCall(false);
    expect(delivery.kind).toBe('message');
    expect(delivery.attempt.provider.name).toBe('second');
    expect(plan.attempts).toBe(2);
    expect(plan.failures.map((f) => [f.provider, f.failure.outcome])).toEqual([['first', 'http_529']]);
    expect(services.health.isUsable('first')).toBe(false);
    expect(plan.current?.provider.name).toBe('second');
    expect(plan.next()).toBeUndefined();
  });

  it('should hold a stream until its first content, so a 200 followed by an error event still fails over', async () => {
    first.enqueue({ kind: 'sse-error', afterEvents: 1, errorType: 'overloaded_error', message: 'Overloaded' });
    const { plan, delivery } = await openCall(true);
    expect(delivery.kind).toBe('stream');
    expect(delivery.attempt.provider.name).toBe('second');
    expect(plan.failures[0]?.failure.outcome).toBe('stream_error_event');
  });

  it('should hand every reader the upstream bytes untouched, in order, and end them well', async () => {
    first.setDefault({ kind: 'message', content: [{ type: 'text', text: 'straight through' }] });
    const { delivery } = await openCall(true);
    if (delivery.kind !== 'stream') throw new Error('expected a stream');
    const readers = [new RecordingReader(), new RecordingReader()];
    const outcome = await pumpStream(delivery, readers, pumpContext('first'));
    expect(outcome).toMatchObject({ cancelled: false, end: { failed: false } });
    expect(outcome.failure).toBeUndefined();
    const text = readers[0]!.chunks.join('');
    expect(readers[1]!.chunks.join('')).toBe(text);
    expect(text).toContain('event: message_start');
    expect(text.trimEnd().endsWith('data: {"type":"message_stop"}')).toBe(true);
    expect(delivery.usage).toMatchObject({ input: 10, output: 5 });
  });

  it('should end a stream the upstream cut with an SSE error event, never an invented stop reason', async () => {
    first.enqueue({ kind: 'cut', afterEvents: 4 });
    const { delivery } = await openCall(true);
    if (delivery.kind !== 'stream') throw new Error('expected a stream');
    const reader = new RecordingReader();
    const outcome = await pumpStream(delivery, [reader], pumpContext('first'));
    expect(outcome.failure?.outcome).toMatch(/connection_reset|stream_cut/);
    expect(outcome.end.failed).toBe(true);
    const text = reader.chunks.join('');
    expect(text).toContain('event: error');
    expect(text).not.toContain('message_stop');
    expect(outcome.end.error?.message).toContain('Provider first failed mid-stream');
  });

  it('should fail over a 200 stream whose first event is an HTML page, not relay it', async () => {
    first.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('event: message_start\ndata: <html><body>502 Bad Gateway</body></html>\n\n');
      },
    });
    const { plan, delivery } = await openCall(true);
    expect(delivery.attempt.provider.name).toBe('second');
    expect(plan.failures[0]?.failure.outcome).toBe('bad_stream');
  });

  it('should end the stream with an SSE error, and not relay it, at an event that is not JSON after content', async () => {
    first.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":2}}}\n\n');
        res.write('event: content_block_start\ndata: {"type":"content_block_start","index":0}\n\n');
        setTimeout(() => res.end('event: content_block_delta\ndata: <html>oops</html>\n\n'), 20);
      },
    });
    const { delivery } = await openCall(true);
    if (delivery.kind !== 'stream') throw new Error('expected a stream');
    expect(delivery.attempt.provider.name).toBe('first');
    const reader = new RecordingReader();
    const outcome = await pumpStream(delivery, [reader], pumpContext('first'));
    expect(outcome.failure?.outcome).toBe('bad_stream');
    const text = reader.chunks.join('');
    expect(text).toContain('event: content_block_start');
    expect(text).not.toContain('<html>');
    expect(text.trimEnd()).toMatch(/event: error\ndata: \{"type":"error","error":\{"type":"api_error".*not valid JSON/);
  });

  it('should wait for a reader that is behind before reading on', async () => {
    const events = Array.from({ length: 8 }, (_, i) =>
      i === 0
        ? 'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":1}}}\n\n'
        : i === 1
          ? 'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
          : `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${i}"}}\n\n`,
    );
    let pulled = 0;
    async function* upstream() {
      for (const event of events) {
        pulled += 1;
        yield await Promise.resolve(event);
      }
    }
    const opened = await openStreamGate(upstream(), []);
    if (!opened.ok) throw new Error('expected the gate to open');
    let written = 0;
    let released = 0;
    let aheadAtWorst = 0;
    const waiting: (() => void)[] = [];
    const slow: CallSink = {
      start: () => undefined,
      write: () => {
        written += 1;
        return false;
      },
      drained: () => new Promise((resolve) => waiting.push(resolve)),
      end: () => undefined,
    };
    let done = false;
    const pumping = pumpStream(opened, [slow], pumpContext('fake')).then((outcome) => {
      done = true;
      return outcome;
    });
    while (!done) {
      await new Promise((resolve) => setImmediate(resolve));
      aheadAtWorst = Math.max(aheadAtWorst, written - released);
      const next = waiting.shift();
      if (next) {
        released += 1;
        next();
      }
    }
    const outcome = await pumping;
    expect(written).toBe(events.length + 1);
    expect(outcome.failure?.outcome).toBe('stream_cut');
    // Every chunk waits until the reader has taken the one before: nothing piles up for a slow reader.
    expect(aheadAtWorst).toBe(1);
    expect(pulled).toBe(events.length);
  });
});
