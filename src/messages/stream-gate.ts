import type { SseChunk } from '../providers/provider-adapter';
import { type AttemptFailure, isAbortError, networkFailure } from '../providers/upstream-failure';
import { type SseEvent, SseEventScanner } from './sse';
import { applyStreamEventUsage, emptyUsage, type TokenUsage } from './token-usage';

export interface OpenedStream {
  readonly ok: true;
  /** What arrived before the first content event, not yet sent to the client. */
  readonly held: SseChunk[];
  readonly rest: AsyncIterator<SseChunk>;
  readonly scanner: SseEventScanner;
  readonly usage: TokenUsage;
  /** message_stop was already among the held events (a short answer can arrive in one read). */
  readonly stopped: boolean;
}

export interface GateFailure {
  readonly ok: false;
  readonly failure: AttemptFailure;
}

export class ClientGoneError extends Error {
  constructor() {
    super('The client closed the connection');
    this.name = 'ClientGoneError';
  }
}

const EVENTS_BEFORE_CONTENT = new Set(['message_start', 'ping']);
/** Past this much held data the stream is committed anyway: the gate must never turn into buffering. */
const MAX_HELD_BYTES = 256 * 1024;

/**
 * Holds a new stream's first events until the first content event arrives. Until then nothing has reached the
 * client, so an upstream that answers 200 and then an `error` event (Anthropic's overloaded errors often come
 * that way, right after message_start) or closes early can still be failed over.
 */
export async function openStreamGate(
  iterable: AsyncIterable<SseChunk>,
  patterns: readonly RegExp[],
): Promise<OpenedStream | GateFailure> {
  const rest = iterable[Symbol.asyncIterator]();
  const scanner = new SseEventScanner();
  const usage = emptyUsage();
  const held: SseChunk[] = [];
  let heldBytes = 0;
  let committed = false;
  let stopped = false;
  for (;;) {
    let next: IteratorResult<SseChunk>;
    try {
      next = await rest.next();
    } catch (error) {
      if (isAbortError(error)) throw new ClientGoneError();
      return { ok: false, failure: networkFailure(error) };
    }
    if (next.done) {
      const failure =
        held.length === 0
          ? 'the upstream closed the stream without sending anything'
          : 'the upstream closed the stream before any content';
      return {
        ok: false,
        failure: { outcome: 'empty_stream', message: failure, countsAgainstHealth: true, status: 502 },
      };
    }
    held.push(next.value);
    heldBytes += next.value.length;
    for (const event of scanner.push(next.value)) {
      applyStreamEventUsage(usage, event.type, event.data);
      if (event.type === 'error') {
        void rest.return?.();
        return { ok: false, failure: streamErrorFailure(event, patterns) };
      }
      if (event.type === 'message_stop') stopped = true;
      if (!EVENTS_BEFORE_CONTENT.has(event.type)) committed = true;
    }
    if (committed || heldBytes > MAX_HELD_BYTES) return { ok: true, held, rest, scanner, usage, stopped };
  }
}

const STATUS_BY_ERROR_TYPE: Readonly<Record<string, number>> = {
  overloaded_error: 529,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  authentication_error: 401,
  permission_error: 403,
  billing_error: 402,
  not_found_error: 404,
  invalid_request_error: 400,
  request_too_large: 413,
};

/** An SSE `error` event as an attempt failure, named like the HTTP error it stands for. */
export function streamErrorFailure(event: SseEvent, patterns: readonly RegExp[]): AttemptFailure {
  let type = 'api_error';
  let message = '';
  try {
    const parsed = JSON.parse(event.data) as { error?: { type?: unknown; message?: unknown } };
    if (typeof parsed.error?.type === 'string') type = parsed.error.type;
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
  } catch {
    message = event.data.slice(0, 200);
  }
  const pattern = patterns.find((p) => p.test(event.data));
  return {
    outcome: 'stream_error_event',
    message: `stream error event ${type}${message ? `: ${message}` : ''}${pattern ? ` (matched "${pattern.source}")` : ''}`,
    countsAgainstHealth: true,
    status: STATUS_BY_ERROR_TYPE[type] ?? 500,
  };
}
