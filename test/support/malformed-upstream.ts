/**
 * A provider that answers POST …/v1/messages (and …/chat/completions) with a chosen fault: broken JSON, broken or
 * out-of-order SSE, oversized lines and headers, misleading headers, bytes one at a time, silence, resets. It is the
 * fake upstream (a real HTTP server on 127.0.0.1, random port) with its answer replaced by the fault, so requests are
 * recorded and close() cleans up the same way. count_tokens is answered normally.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { sseFrame } from './dedup-fixtures';
import { type FakeUpstream, type RecordedRequest, startFakeUpstream } from './fake-upstream';

export type UpstreamFault =
  /** A normal answer (a control). */
  | 'valid'
  /** 200 application/json whose body is not JSON. */
  | 'invalid-json'
  /** 200 text/html with an HTML page (a captive portal or challenge page). */
  | 'html-page'
  /** Stream: the first event is `event: message_start` with `data: <html>…</html>`; then a valid stream. */
  | 'html-message-start'
  /** Stream: a content_block_delta before message_start, then the rest of a stream. */
  | 'out-of-order'
  /** Stream: a valid start and first content, then `event: content_block_delta` + `data: <html>`, then a valid end. */
  | 'garbage-after-content'
  /** Stream: the very first event is one 1 MB line (a valid message_start carrying 1 MB of padding). */
  | 'huge-first-event'
  /** Stream: a valid start, then one content_block_delta line of 1 MB of text (valid JSON), then a valid end. */
  | 'huge-delta'
  /** A valid answer written one byte per write, with the socket's Nagle delay off. */
  | 'byte-per-write'
  /** A valid answer labelled content-type: text/html. */
  | 'html-content-type'
  /** A valid answer without any content-type. */
  | 'missing-content-type'
  /** A valid, plain (not compressed) answer labelled content-encoding: gzip. */
  | 'gzip-label'
  /** A valid answer after 200 KB of response headers. */
  | 'huge-headers'
  /** Headers sent, then silence for as long as the connection stays open. */
  | 'never-ends'
  /** Stream: a valid start and first content, then silence. Non-stream: half the body, then silence. */
  | 'silent-after-content'
  /** Stream: message_start and ping, then a connection reset. Non-stream: half the body, then a reset. */
  | 'reset-before-content'
  /** Stream: a valid start and first content, then a connection reset. Non-stream: half the body, then a reset. */
  | 'reset-after-content'
  /** OpenAI stream: the first `data:` line is HTML, then a valid stream. Non-stream: an HTML body as JSON. */
  | 'openai-html-first'
  /** OpenAI stream: role and first content chunks, then `data: <html>`, then valid chunks and [DONE]. */
  | 'openai-garbage-after-content';

export interface MalformedUpstream {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** Every POST, in arrival order (count_tokens included). */
  readonly requests: RecordedRequest[];
  /** The answer for the next requests, until set again. */
  setFault(fault: UpstreamFault): void;
  /** Forgets recorded requests and goes back to 'valid'. */
  reset(): void;
  close(): Promise<void>;
}

/** The text of every answer the malformed upstream gives in full (1 MB of it for the huge faults). */
export const MALFORMED_TEXT = 'Answer from the malformed upstream';
/** The text a stream carries before the fault in the *-after-content faults. */
export const PARTIAL_TEXT = 'partial answer ';
export const HUGE_TEXT_BYTES = 1024 * 1024;
/** How many bytes of headers 'huge-headers' sends. */
export const HUGE_HEADER_BYTES = 200 * 1024;

const HTML = '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>';
/** Between the parts of a broken answer, so that what comes before a fault has really been read before the fault. */
const PHASE_PAUSE_MS = 30;
const BYTE_PAUSE_MS = 1;

interface Answer {
  readonly res: ServerResponse;
  readonly stream: boolean;
  readonly model: string;
  readonly id: string;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- Anthropic frames ---------------------------------------------------------------------------------------------

function messageStart(a: Answer, extra: Record<string, unknown> = {}): string {
  return sseFrame('message_start', {
    message: {
      id: a.id,
      type: 'message',
      role: 'assistant',
      model: a.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 1 },
      ...extra,
    },
  });
}

const ping = (): string => sseFrame('ping', {});
const blockStart = (): string =>
  sseFrame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
const textDelta = (text: string): string =>
  sseFrame('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
const blockStop = (): string => sseFrame('content_block_stop', { index: 0 });

function streamEnd(): string {
  return (
    sseFrame('message_delta', {
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 5 },
    }) + sseFrame('message_stop', {})
  );
}

/** A whole valid stream whose one text block is `text`. */
function validStream(a: Answer, text: string): string {
  return messageStart(a) + ping() + blockStart() + textDelta(text) + blockStop() + streamEnd();
}

/** A whole valid non-streaming message whose one text block is `text`. */
function validMessage(a: Answer, text: string): string {
  return JSON.stringify({
    id: a.id,
    type: 'message',
    role: 'assistant',
    model: a.model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 5 },
  });
}

// ---- OpenAI chunks ------------------------------------------------------------------------------------------------

function openAiChunk(a: Answer, delta: Record<string, unknown>, finishReason: string | null = null): string {
  const chunk = {
    id: `chatcmpl-${a.id}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: a.model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

function openAiCompletion(a: Answer, text: string): string {
  return JSON.stringify({
    id: `chatcmpl-${a.id}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: a.model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  });
}

// ---- writing ------------------------------------------------------------------------------------------------------

const SSE: OutgoingHttpHeaders = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
const JSON_TYPE: OutgoingHttpHeaders = { 'content-type': 'application/json' };

function gone(res: ServerResponse): boolean {
  return res.destroyed || res.writableEnded;
}

function sendWhole(res: ServerResponse, headers: OutgoingHttpHeaders, body: string): void {
  if (gone(res)) return;
  res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function openStream(res: ServerResponse, headers: OutgoingHttpHeaders = SSE): void {
  if (gone(res)) return;
  res.writeHead(200, headers);
  res.flushHeaders();
}

/** Writes each part after a short pause; false once the connection has gone. */
async function writeParts(res: ServerResponse, parts: readonly string[]): Promise<boolean> {
  for (const part of parts) {
    if (gone(res)) return false;
    res.write(part);
    await pause(PHASE_PAUSE_MS);
  }
  return !gone(res);
}

async function writeBytewise(res: ServerResponse, text: string): Promise<void> {
  res.socket?.setNoDelay(true);
  for (const byte of Buffer.from(text)) {
    if (gone(res)) return;
    res.write(Buffer.of(byte));
    await pause(BYTE_PAUSE_MS);
  }
  if (!gone(res)) res.end();
}

function reset(res: ServerResponse): void {
  const socket = res.socket;
  if (socket && !socket.destroyed) socket.resetAndDestroy();
}

/** Sends the first half of a JSON body (content-length of the whole), then leaves it to `then`. */
async function halfBody(a: Answer, then: 'reset' | 'silence'): Promise<void> {
  const body = validMessage(a, MALFORMED_TEXT);
  if (gone(a.res)) return;
  a.res.writeHead(200, { ...JSON_TYPE, 'content-length': Buffer.byteLength(body) });
  if (!(await writeParts(a.res, [body.slice(0, Math.floor(body.length / 2))]))) return;
  if (then === 'reset') reset(a.res);
}

function hugeHeaders(): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  const size = 8 * 1024;
  for (let i = 0; i * size < HUGE_HEADER_BYTES; i++) headers[`x-padding-${i}`] = 'h'.repeat(size);
  return headers;
}

async function answer(fault: UpstreamFault, a: Answer): Promise<void> {
  const { res, stream } = a;
  const plain = stream ? validStream(a, MALFORMED_TEXT) : validMessage(a, MALFORMED_TEXT);
  const plainType = stream ? SSE : JSON_TYPE;
  switch (fault) {
    case 'valid':
      return sendWhole(res, plainType, plain);
    case 'invalid-json':
      return sendWhole(res, JSON_TYPE, `{"id":"${a.id}","type":"message","content":[tru`);
    case 'html-page':
      return sendWhole(res, { 'content-type': 'text/html; charset=utf-8' }, `<!doctype html>${HTML}`);
    case 'html-message-start':
      if (!stream) return sendWhole(res, JSON_TYPE, HTML);
      openStream(res);
      await writeParts(res, [`event: message_start\ndata: ${HTML}\n\n`, validStream(a, MALFORMED_TEXT)]);
      return void res.end();
    case 'out-of-order': {
      const events = [textDelta(PARTIAL_TEXT), messageStart(a), blockStart(), textDelta(MALFORMED_TEXT), blockStop()];
      const body = events.join('') + streamEnd();
      if (!stream) return sendWhole(res, SSE, body);
      openStream(res);
      await writeParts(res, [...events, streamEnd()]);
      return void res.end();
    }
    case 'garbage-after-content':
      if (!stream) return sendWhole(res, JSON_TYPE, `${plain}\n${HTML}`);
      openStream(res);
      if (!(await writeParts(res, [messageStart(a) + ping() + blockStart() + textDelta(PARTIAL_TEXT)]))) return;
      await writeParts(res, [
        `event: content_block_delta\ndata: ${HTML}\n\n`,
        textDelta(MALFORMED_TEXT) + blockStop() + streamEnd(),
      ]);
      return void res.end();
    case 'huge-first-event':
      if (!stream) return sendWhole(res, JSON_TYPE, validMessage(a, 'x'.repeat(HUGE_TEXT_BYTES)));
      openStream(res);
      await writeParts(res, [
        messageStart(a, { padding: 'p'.repeat(HUGE_TEXT_BYTES) }),
        ping() + blockStart() + textDelta(MALFORMED_TEXT) + blockStop() + streamEnd(),
      ]);
      return void res.end();
    case 'huge-delta':
      if (!stream) return sendWhole(res, JSON_TYPE, validMessage(a, 'x'.repeat(HUGE_TEXT_BYTES)));
      openStream(res);
      await writeParts(res, [
        messageStart(a) + ping() + blockStart(),
        textDelta('x'.repeat(HUGE_TEXT_BYTES)),
        blockStop() + streamEnd(),
      ]);
      return void res.end();
    case 'byte-per-write':
      if (stream) openStream(res);
      else res.writeHead(200, { ...JSON_TYPE, 'content-length': Buffer.byteLength(plain) });
      return writeBytewise(res, plain);
    case 'html-content-type':
      return sendWhole(res, { 'content-type': 'text/html; charset=utf-8' }, plain);
    case 'missing-content-type':
      return sendWhole(res, {}, plain);
    case 'gzip-label':
      return sendWhole(res, { ...plainType, 'content-encoding': 'gzip' }, plain);
    case 'huge-headers':
      return sendWhole(res, { ...plainType, ...hugeHeaders() }, plain);
    case 'never-ends':
      if (stream) return openStream(res);
      res.writeHead(200, { ...JSON_TYPE, 'content-length': Buffer.byteLength(plain) });
      res.flushHeaders();
      return;
    case 'silent-after-content':
      if (!stream) return halfBody(a, 'silence');
      openStream(res);
      await writeParts(res, [messageStart(a) + ping() + blockStart() + textDelta(PARTIAL_TEXT)]);
      return;
    case 'reset-before-content':
      if (!stream) return halfBody(a, 'reset');
      openStream(res);
      if (await writeParts(res, [messageStart(a) + ping()])) reset(res);
      return;
    case 'reset-after-content':
      if (!stream) return halfBody(a, 'reset');
      openStream(res);
      if (await writeParts(res, [messageStart(a) + ping() + blockStart() + textDelta(PARTIAL_TEXT)])) reset(res);
      return;
    case 'openai-html-first':
      if (!stream) return sendWhole(res, JSON_TYPE, HTML);
      openStream(res);
      await writeParts(res, [
        `data: ${HTML}\n\n`,
        openAiChunk(a, { role: 'assistant' }) + openAiChunk(a, { content: MALFORMED_TEXT }),
        openAiChunk(a, {}, 'stop') + 'data: [DONE]\n\n',
      ]);
      return void res.end();
    case 'openai-garbage-after-content':
      if (!stream) return sendWhole(res, JSON_TYPE, `${openAiCompletion(a, MALFORMED_TEXT)}\n${HTML}`);
      openStream(res);
      await writeParts(res, [
        openAiChunk(a, { role: 'assistant' }) + openAiChunk(a, { content: PARTIAL_TEXT }),
        `data: ${HTML}\n\n`,
        openAiChunk(a, { content: MALFORMED_TEXT }) + openAiChunk(a, {}, 'stop') + 'data: [DONE]\n\n',
      ]);
      return void res.end();
  }
}

/** Starts the malformed provider on 127.0.0.1 with a random port, answering with `fault` until told otherwise. */
export async function startMalformedUpstream(fault: UpstreamFault = 'valid'): Promise<MalformedUpstream> {
  const fake: FakeUpstream = await startFakeUpstream();
  let current = fault;
  let seq = 0;
  const handle = async (_req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> => {
    const request = (typeof body === 'object' && body !== null ? body : {}) as { stream?: unknown; model?: unknown };
    const a: Answer = {
      res,
      stream: request.stream === true,
      model: typeof request.model === 'string' ? request.model : 'claude-malformed',
      id: `msg_malformed_${++seq}`,
    };
    try {
      await answer(current, a);
    } catch {
      if (!res.destroyed) res.destroy();
    }
  };
  const install = () => fake.setDefault({ kind: 'custom', handle: (req, res, body) => void handle(req, res, body) });
  install();
  return {
    url: fake.url,
    get requests() {
      return fake.requests;
    },
    setFault(next: UpstreamFault) {
      current = next;
    },
    reset() {
      fake.reset();
      install();
      current = 'valid';
    },
    close: () => fake.close(),
  };
}
