import { openStreamGate } from './stream-gate';

const START =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":3}}}\n\n';
const PING = 'event: ping\ndata: {"type": "ping"}\n\n';
const BLOCK =
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text"}}\n\n';
const DELTA = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"text":"hi"}}\n\n';

async function* chunks(...parts: string[]): AsyncGenerator<string> {
  for (const part of parts) yield await Promise.resolve(part);
}

async function gate(...parts: string[]) {
  return openStreamGate(chunks(...parts), []);
}

describe('openStreamGate', () => {
  it('should commit at the first content event, holding what came before it', async () => {
    const opened = await gate(START, PING, BLOCK, DELTA);
    expect(opened).toMatchObject({ ok: true, held: [START, PING, BLOCK], usage: { input: 3 } });
  });

  it('should commit a short answer that arrives in one read, noting its message_stop', async () => {
    const stop = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    const opened = await gate(START + PING + BLOCK + DELTA + stop);
    expect(opened).toMatchObject({ ok: true, stopped: true });
  });

  it.each([
    ['an HTML page as message_start', ['event: message_start\ndata: <html>Bad gateway</html>\n\n', BLOCK]],
    ['a delta before message_start', [DELTA, START, BLOCK]],
    ['a delta before any content_block_start', [START, DELTA]],
    ['a message_start without its message', ['event: message_start\ndata: {"type":"message_start"}\n\n', BLOCK]],
    ['a second message_start', [START, START, BLOCK]],
    ['garbage in the same read as the first content', [START, BLOCK + 'event: content_block_delta\ndata: <p>\n\n']],
  ])('should fail the attempt on %s, so the next candidate is tried', async (_case, parts) => {
    const opened = await gate(...parts);
    expect(opened).toMatchObject({ ok: false, failure: { outcome: 'bad_stream', countsAgainstHealth: true } });
  });

  it('should fail, not commit, when 256 KiB arrive without any content', async () => {
    const comment = `: ${'x'.repeat(64 * 1024)}\n\n`;
    const opened = await gate(START, comment, comment, comment, comment, comment, BLOCK);
    expect(opened).toMatchObject({ ok: false, failure: { outcome: 'bad_stream' } });
  });

  it("should fail over on the upstream's own error event, named by its type", async () => {
    const error = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n';
    const opened = await gate(START, error);
    expect(opened).toMatchObject({ ok: false, failure: { outcome: 'stream_error_event', status: 529 } });
  });

  it('should fail when the stream ends before any content', async () => {
    expect(await gate(START)).toMatchObject({ ok: false, failure: { outcome: 'empty_stream' } });
  });
});
