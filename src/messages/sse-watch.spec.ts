import { DECODED_EVENTS } from './stream-gate';
import { MAX_EVENT_BYTES, SseWatcher } from './sse-watch';

const START =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":3}}}\n\n';
const DELTA = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"text":"é"}}\n\n';
const STOP = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';

function watchAll(chunks: (string | Buffer)[], decoded: ReadonlySet<string> | 'every' = DECODED_EVENTS) {
  const watcher = new SseWatcher(decoded);
  return [...chunks.flatMap((chunk) => watcher.push(chunk)), ...watcher.flush()];
}

describe('SseWatcher', () => {
  it('should decode only the watched events and leave deltas as bytes', () => {
    const events = watchAll([START + DELTA + STOP]);
    expect(events.map((e) => [e.type, e.data !== undefined, e.malformed])).toEqual([
      ['message_start', true, false],
      ['content_block_delta', false, false],
      ['message_stop', true, false],
    ]);
    expect(events[0]!.payload).toMatchObject({ message: { usage: { input_tokens: 3 } } });
  });

  it('should find the same events when the stream is split at every byte, multi-byte text and CRLF included', () => {
    const whole = Buffer.from((START + DELTA + STOP).replaceAll('\n', '\r\n'));
    const bytes = [...whole].map((byte) => Buffer.from([byte]));
    const events = watchAll(bytes, 'every');
    expect(events.map((e) => e.type)).toEqual(['message_start', 'content_block_delta', 'message_stop']);
    expect(events.every((e) => !e.malformed)).toBe(true);
    expect(JSON.parse(events[1]!.data!)).toMatchObject({ delta: { text: 'é' } });
  });

  it('should mark a decoded event whose data is not JSON, or names another type, as malformed', () => {
    const events = watchAll([
      'event: message_start\ndata: <html>502</html>\n\n',
      'event: message_delta\ndata: {"type":"message_stop"}\n\n',
      'event: message_delta\ndata: [1,2]\n\n',
    ]);
    expect(events.map((e) => e.malformed)).toEqual([true, true, true]);
  });

  it('should check undecoded events only for framing as a JSON object', () => {
    const events = watchAll([
      'event: content_block_delta\ndata: <html>oops</html>\n\n',
      'event: content_block_delta\n\n',
      'event: ping\ndata: {"type": "ping"}  \n\n',
      'event: content_block_delta\ndata: {"type":"content_block_delta",\ndata: "index":0}\n\n',
    ]);
    expect(events.map((e) => e.malformed)).toEqual([true, true, false, false]);
  });

  it('should report an event larger than any real one instead of holding it', () => {
    const watcher = new SseWatcher(DECODED_EVENTS);
    const piece = `event: content_block_delta\ndata: {"text":"${'x'.repeat(1024 * 1024)}`;
    const events = [];
    for (let i = 0; i < 9 && events.length === 0; i += 1) events.push(...watcher.push(piece));
    expect(events).toEqual([expect.objectContaining({ type: 'oversized', malformed: true })]);
    expect(MAX_EVENT_BYTES).toBeLessThan(9 * piece.length);
  });

  it('should decode every event until narrowed', () => {
    const watcher = new SseWatcher('every');
    expect(watcher.push(DELTA)[0]!.data).toBeDefined();
    watcher.narrow(DECODED_EVENTS);
    expect(watcher.push(DELTA)[0]!.data).toBeUndefined();
  });
});
