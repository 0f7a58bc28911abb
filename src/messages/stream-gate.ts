import { statusForErrorType } from '../common/error-table';
import type { SseChunk } from '../providers/provider-adapter';
import { type AttemptFailure, isAbortError, networkFailure } from '../providers/upstream-failure';
import { SseWatcher, type WatchedEvent } from './sse-watch';
import { applyStreamEventUsage, emptyUsage, type TokenUsage } from './token-usage';

export interface OpenedStream {
  readonly ok: true;
  /** What arrived before the first content event, not yet sent to the client. */
  readonly held: SseChunk[];
  readonly rest: AsyncIterator<SseChunk>;
  readonly watcher: SseWatcher;
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

/** The events whose data the gateway reads; every other event is relayed as bytes, never decoded. */
export const DECODED_EVENTS: ReadonlySet<string> = new Set([
  'message_start',
  'message_delta',
  'message_stop',
  'content_block_start',
  'content_block_stop',
  'error',
]);
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
  const watcher = new SseWatcher(DECODED_EVENTS);
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
    for (const event of watcher.push(next.value)) {
      applyStreamEventUsage(usage, event.type, event.data);
      if (event.type === 'error') {
        void rest.return?.();
        return { ok: false, failure: streamErrorFailure(event, patterns) };
      }
      if (event.type === 'message_stop') stopped = true;
      if (!EVENTS_BEFORE_CONTENT.has(event.type)) committed = true;
    }
    if (committed || heldBytes > MAX_HELD_BYTES) return { ok: true, held, rest, watcher, usage, stopped };
  }
}

/** The type and message an SSE `error` event's data names; `unparsed` holds the data's start when it is not JSON. */
export function readStreamError(data: string | undefined): { type: string; message?: string; unparsed?: string } {
  try {
    const error = (JSON.parse(data ?? '') as { error?: { type?: unknown; message?: unknown } }).error;
    return {
      type: typeof error?.type === 'string' ? error.type : 'api_error',
      message: typeof error?.message === 'string' ? error.message : undefined,
    };
  } catch {
    return { type: 'api_error', unparsed: data?.slice(0, 200) || undefined };
  }
}

/** An SSE `error` event as an attempt failure, named like the HTTP error it stands for. */
export function streamErrorFailure(event: WatchedEvent, patterns: readonly RegExp[]): AttemptFailure {
  const data = event.data ?? '';
  const read = readStreamError(data);
  const { type } = read;
  const message = read.message ?? read.unparsed;
  const pattern = patterns.find((p) => p.test(data));
  return {
    outcome: 'stream_error_event',
    message: `stream error event ${type}${message ? `: ${message}` : ''}${pattern ? ` (matched "${pattern.source}")` : ''}`,
    countsAgainstHealth: true,
    status: statusForErrorType(type),
    errorType: type,
  };
}
