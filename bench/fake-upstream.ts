import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-process Anthropic stand-in that costs as little as possible: every answer is pre-built bytes. POST
 * .../v1/messages gets a JSON message, or (when the body says `"stream":true`) a realistic SSE sequence written as
 * separate writes with no delays between them.
 */
export interface FakeUpstream {
  readonly url: string;
  /** Requests answered so far (to check the gateway sent exactly one upstream call per client request). */
  readonly served: () => number;
  close(): Promise<void>;
}

const MESSAGE_ID = 'msg_01BenchXk3Qw8ZsN2mVrTqYpL';
const MODEL = 'claude-opus-4-8';
const TEXT_PIECES = [
  'Hello',
  '! I ran',
  ' the command',
  ' `echo hi`',
  ' and it',
  ' printed',
  ' "hi"',
  ' as expected.',
  ' Anything',
  ' else?',
];
const INPUT_USAGE = { input_tokens: 21480, cache_creation_input_tokens: 0, cache_read_input_tokens: 18210 };

const STREAM_MARKER = Buffer.from('"stream":true');
const STREAM_MARKER_SPACED = Buffer.from('"stream": true');
const TAIL_BYTES = 64;

function sse(type: string, payload: unknown): Buffer {
  return Buffer.from(`event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`, 'utf8');
}

const SSE_EVENTS: Buffer[] = [
  sse('message_start', {
    type: 'message_start',
    message: {
      id: MESSAGE_ID,
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...INPUT_USAGE, output_tokens: 1, service_tier: 'standard' },
    },
  }),
  sse('ping', { type: 'ping' }),
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  ...TEXT_PIECES.map((text) =>
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
  ),
  sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
  sse('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { ...INPUT_USAGE, output_tokens: 24 },
  }),
  sse('message_stop', { type: 'message_stop' }),
];

const JSON_BODY = Buffer.from(
  JSON.stringify({
    id: MESSAGE_ID,
    type: 'message',
    role: 'assistant',
    model: MODEL,
    content: [{ type: 'text', text: TEXT_PIECES.join('') }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { ...INPUT_USAGE, output_tokens: 24, service_tier: 'standard' },
  }),
  'utf8',
);

const COMMON_HEADERS: [string, string][] = [
  ['request-id', 'req_011CBenchUpstreamRequestId'],
  ['anthropic-organization-id', '00000000-0000-0000-0000-000000000000'],
  ['anthropic-ratelimit-requests-limit', '4000'],
  ['anthropic-ratelimit-requests-remaining', '3999'],
  ['anthropic-ratelimit-requests-reset', '2030-01-01T00:00:00Z'],
  ['anthropic-ratelimit-tokens-limit', '2000000'],
  ['anthropic-ratelimit-tokens-remaining', '1999000'],
  ['anthropic-ratelimit-tokens-reset', '2030-01-01T00:00:00Z'],
];
const JSON_HEADERS = [
  ...COMMON_HEADERS,
  ['content-type', 'application/json'],
  ['content-length', String(JSON_BODY.length)],
].flat();
const SSE_HEADERS = [
  ...COMMON_HEADERS,
  ['content-type', 'text/event-stream; charset=utf-8'],
  ['cache-control', 'no-cache'],
].flat();
const NOT_FOUND = Buffer.from(
  '{"type":"error","error":{"type":"not_found_error","message":"bench upstream: unknown path"}}',
);

/**
 * Only the last bytes are looked at: `stream` is the last key Claude Code writes, and a gateway that re-serialises
 * the body keeps the key order. (Scanning the whole 76 KB would cost ~50 µs a request.) A wrong guess would show up
 * as "incomplete stream" errors in the report, not as silently wrong figures.
 */
function wantsStream(chunks: Buffer[]): boolean {
  const last = chunks[chunks.length - 1];
  if (!last) return false;
  const tail =
    last.length >= TAIL_BYTES || chunks.length === 1
      ? last.subarray(-TAIL_BYTES)
      : Buffer.concat(chunks.slice(-4)).subarray(-TAIL_BYTES);
  return tail.includes(STREAM_MARKER) || tail.includes(STREAM_MARKER_SPACED);
}

export async function startFakeUpstream(): Promise<FakeUpstream> {
  let served = 0;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '';
      const queryAt = path.indexOf('?');
      if (req.method !== 'POST' || !(queryAt === -1 ? path : path.slice(0, queryAt)).endsWith('/v1/messages')) {
        res.writeHead(404, { 'content-type': 'application/json', 'content-length': NOT_FOUND.length });
        res.end(NOT_FOUND);
        return;
      }
      served++;
      if (!wantsStream(chunks)) {
        res.writeHead(200, JSON_HEADERS);
        res.end(JSON_BODY);
        return;
      }
      res.writeHead(200, SSE_HEADERS);
      res.flushHeaders();
      for (const event of SSE_EVENTS) res.write(event);
      res.end();
    });
  };
  const server: Server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0, noDelay: true }, handle);
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
