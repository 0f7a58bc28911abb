import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-process Anthropic stand-in that costs as little as possible: every answer is pre-built bytes. POST
 * .../v1/messages gets a JSON message, or (when the body says `"stream":true`) a realistic SSE sequence written as
 * separate writes (one per event) with no delays between them.
 *
 * The answer has 10 text deltas, unless the request's model is `bench-deltas-<N>` (see longAnswerModel): then it has
 * N, a long answer that measures the per-event path. The model picks it because every target forwards the model
 * untouched (the bench's gateway config routes `*` with `model: passthrough`), whereas the gateway forwards only a
 * fixed list of client headers.
 */
export interface FakeUpstream {
  readonly url: string;
  readonly port: number;
  /** Requests answered so far (to check the gateway sent exactly one upstream call per client request). */
  readonly served: () => number;
  /** TCP connections accepted so far (a proxy that opens a new upstream connection per stream shows here). */
  readonly connections: () => number;
  /** Responses to POST .../v1/messages open right now: from the request's headers to the response's close. */
  readonly open: () => number;
  /** The most responses open at the same moment since the last resetPeakOpen(). */
  readonly peakOpen: () => number;
  resetPeakOpen(): void;
  /**
   * From now on, keep every SSE answer open for `ms` after its first events (message_start ... the text deltas,
   * written at once) before the last three (content_block_stop, message_delta, message_stop) and the end; 0 (the
   * default) writes the whole stream at once. Without a hold an answer is over within one event-loop turn of this
   * process, so peakOpen() would say how the requests' arrival happened to interleave, not how many streams a proxy
   * keeps open at once.
   */
  holdStreams(ms: number): void;
  close(): Promise<void>;
}

export interface FakeUpstreamOptions {
  /** listen() backlog (the kernel caps it at net.core.somaxconn); node's default is 511. */
  readonly backlog?: number;
}

/** How many of an SSE answer's events come after the hold (see FakeUpstream.holdStreams). */
const EVENTS_AFTER_HOLD = 3;

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

const LONG_MODEL_PREFIX = 'bench-deltas-';
const LONG_MODEL_MARKER = Buffer.from(`"model":"${LONG_MODEL_PREFIX}`);
const LONG_MODEL_MARKER_SPACED = Buffer.from(`"model": "${LONG_MODEL_PREFIX}`);
/** Where the model is looked for: it is the first key of every bench body (and stays first if a gateway re-serialises). */
const HEAD_BYTES = 256;
const MAX_DELTAS = 1_000_000;

/** The model name that asks this upstream for an answer with `deltas` text deltas. */
export function longAnswerModel(deltas: number): string {
  return `${LONG_MODEL_PREFIX}${deltas}`;
}

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
const SSE_HEADERS = [
  ...COMMON_HEADERS,
  ['content-type', 'text/event-stream; charset=utf-8'],
  ['cache-control', 'no-cache'],
].flat();
const NOT_FOUND = Buffer.from(
  '{"type":"error","error":{"type":"not_found_error","message":"bench upstream: unknown path"}}',
);

function sse(type: string, payload: unknown): Buffer {
  return Buffer.from(`event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`, 'utf8');
}

interface Answer {
  /** The SSE events, one Buffer (and one write) each. */
  readonly events: Buffer[];
  readonly json: Buffer;
  readonly jsonHeaders: string[];
}

/** The text of delta `i`: the 10 pieces of the default answer, over and over. */
const piece = (i: number) => TEXT_PIECES[i % TEXT_PIECES.length]!;

function buildAnswer(deltas: number): Answer {
  const outputTokens = deltas === TEXT_PIECES.length ? 24 : Math.ceil(deltas * 1.6);
  const events: Buffer[] = [
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
  ];
  for (let i = 0; i < deltas; i++) {
    events.push(
      sse('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: piece(i) },
      }),
    );
  }
  events.push(
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { ...INPUT_USAGE, output_tokens: outputTokens },
    }),
    sse('message_stop', { type: 'message_stop' }),
  );
  const json = Buffer.from(
    JSON.stringify({
      id: MESSAGE_ID,
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [{ type: 'text', text: Array.from({ length: deltas }, (_, i) => piece(i)).join('') }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { ...INPUT_USAGE, output_tokens: outputTokens, service_tier: 'standard' },
    }),
    'utf8',
  );
  const jsonHeaders = [
    ...COMMON_HEADERS,
    ['content-type', 'application/json'],
    ['content-length', String(json.length)],
  ].flat();
  return { events, json, jsonHeaders };
}

/** Size of the SSE answer with `deltas` text deltas as this upstream sends it (to check a long answer arrived whole). */
export function streamAnswerBytes(deltas: number): number {
  return buildAnswer(deltas).events.reduce((sum, event) => sum + event.length, 0);
}

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

/**
 * The number of text deltas asked for: N for model `bench-deltas-N`, else 10. Only the first bytes are looked at;
 * a long answer that went missing shows up as "short answer" errors in the report (see LoadSpec.minResponseBytes).
 */
function requestedDeltas(chunks: Buffer[]): number {
  const first = chunks[0];
  if (!first) return TEXT_PIECES.length;
  const head = (first.length >= HEAD_BYTES || chunks.length === 1 ? first : Buffer.concat(chunks)).subarray(
    0,
    HEAD_BYTES,
  );
  let at = head.indexOf(LONG_MODEL_MARKER);
  let digitsAt = at + LONG_MODEL_MARKER.length;
  if (at === -1) {
    at = head.indexOf(LONG_MODEL_MARKER_SPACED);
    digitsAt = at + LONG_MODEL_MARKER_SPACED.length;
  }
  if (at === -1) return TEXT_PIECES.length;
  let deltas = 0;
  for (let i = digitsAt; i < head.length; i++) {
    const digit = head[i]! - 0x30;
    if (digit < 0 || digit > 9) break;
    deltas = deltas * 10 + digit;
  }
  return deltas > 0 && deltas <= MAX_DELTAS ? deltas : TEXT_PIECES.length;
}

export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  let served = 0;
  let connections = 0;
  let open = 0;
  let peakOpen = 0;
  let holdMs = 0;
  const answers = new Map<number, Answer>();
  const answerFor = (deltas: number) => {
    let answer = answers.get(deltas);
    if (!answer) {
      answer = buildAnswer(deltas);
      answers.set(deltas, answer);
    }
    return answer;
  };
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
      const answer = answerFor(requestedDeltas(chunks));
      if (!wantsStream(chunks)) {
        res.writeHead(200, answer.jsonHeaders);
        res.end(answer.json);
        return;
      }
      res.writeHead(200, SSE_HEADERS);
      res.flushHeaders();
      const events = answer.events;
      if (holdMs <= 0) {
        for (const event of events) res.write(event);
        res.end();
        return;
      }
      const heldAt = events.length - EVENTS_AFTER_HOLD;
      for (let i = 0; i < heldAt; i++) res.write(events[i]!);
      const timer = setTimeout(() => {
        for (let i = heldAt; i < events.length; i++) res.write(events[i]!);
        res.end();
      }, holdMs);
      res.once('close', () => clearTimeout(timer));
    });
  };
  const countOpen = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST') {
      open++;
      if (open > peakOpen) peakOpen = open;
      res.once('close', () => open--);
    }
    handle(req, res);
  };
  const server: Server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0, noDelay: true }, countOpen);
  server.keepAliveTimeout = 120_000;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: options.backlog }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    served: () => served,
    connections: () => connections,
    open: () => open,
    peakOpen: () => peakOpen,
    resetPeakOpen: () => {
      peakOpen = open;
    },
    holdStreams: (ms: number) => {
      holdMs = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
