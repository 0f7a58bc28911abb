import { connect } from 'node:net';
import type { ServerResponse } from 'node:http';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  postJson,
  type RunningGateway,
  sseEvents,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const DELTA = `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${'x'.repeat(1000)}"}}\n\n`;
const DELTAS = 48 * 1024; // about 50 MB of answer
const START =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_slow","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":1,"output_tokens":1}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n';
const END =
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}\n\n' +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';

/** Writes a long answer as fast as the gateway takes it, and counts what it managed to write. */
function longStream(progress: { written: number; done: boolean }) {
  return (_req: unknown, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(START);
    let sent = 0;
    const pump = () => {
      while (sent < DELTAS) {
        sent += 1;
        progress.written += DELTA.length;
        if (!res.write(DELTA)) return void res.once('drain', pump);
      }
      progress.done = true;
      res.end(END);
    };
    pump();
  };
}

describe('a slow client reading a long stream', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('only', upstream.url)],
      model_routes: { '*': [{ provider: 'only', model: 'passthrough', priority: 1 }] },
      settings: { deduplication: { enabled: false } },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('should slow the upstream down to the client instead of holding the answer in memory', async () => {
    const progress = { written: 0, done: false };
    upstream.enqueue({ kind: 'custom', handle: longStream(progress) });
    const { port } = new URL(gateway.url);
    const socket = connect(Number(port), '127.0.0.1');
    const body = JSON.stringify({
      model: 'claude-slow',
      max_tokens: 8,
      stream: true,
      messages: [{ role: 'user', content: 'go' }],
    });
    socket.write(
      `POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    socket.pause();
    // Wait until the upstream has stopped making progress: the gateway no longer takes what the client does not read.
    let last = -1;
    let still = 0;
    for (let polls = 0; polls < 200 && still < 4 && !progress.done; polls += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      still = progress.written === last ? still + 1 : 0;
      last = progress.written;
    }
    const total = DELTAS * DELTA.length;
    expect(progress.done).toBe(false);
    // What sits in the gateway plus the socket buffers on both sides: a few MB, never the whole answer.
    expect(progress.written).toBeLessThan(total / 4);

    let received = 0;
    let tail = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      tail = (tail + chunk.toString('latin1')).slice(-200);
    });
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(progress.done).toBe(true);
    expect(received).toBeGreaterThan(total);
    expect(tail).toContain('message_stop');
  });
});

describe('the server bounds on a request, once it has arrived', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    gateway = await startGateway(
      {
        providers: [anthropicProvider('only', upstream.url)],
        model_routes: { '*': [{ provider: 'only', model: 'passthrough', priority: 1 }] },
      },
      {},
      { serverLimits: { headersTimeoutMs: 500, requestTimeoutMs: 800, bodyGraceMs: 300, deadlineCheckMs: 100 } },
    );
  });

  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it('should let a stream run far past the request and header deadlines', async () => {
    upstream.setDefault({ kind: 'message', content: [{ type: 'text', text: 'slow and long' }], eventDelayMs: 250 });
    const response = await postJson(`${gateway.url}/v1/messages`, {
      model: 'm',
      max_tokens: 5,
      stream: true,
      messages: userMessage(),
    });
    expect(response.status).toBe(200);
    expect(sseEvents(response.text).at(-1)?.event).toBe('message_stop');
  });
});
