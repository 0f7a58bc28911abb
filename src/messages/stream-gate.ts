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
/** Past this much held data with no content the upstream is not sending a Messages stream. */
const MAX_HELD_BYTES = 256 * 1024;
/** Events that can only follow a content_block_start: seen first, the stream is out of order. */
const BLOCK_CONTINUATIONS = new Set(['content_block_delta', 'content_block_stop']);

/**
 * Holds a new stream's first events until the first content event arrives. Until then nothing has reached the
 * client, so an upstream that answers 200 and then an `error` event (Anthropic's overloaded errors often come
 * that way, right after message_start), closes early, or sends something that is not a Messages stream (an HTML
 * page, events out of order, JSON that does not parse) can still be failed over. Every held event is decoded and
 * checked; once the stream is committed, the watcher goes back to decoding only what the pump needs.
 */
export async function openStreamGate(
  iterable: AsyncIterable<SseChunk>,
  patterns: readonly RegExp[],
): Promise<OpenedStream | GateFailure> {
  const rest = iterable[Symbol.asyncIterator]();
  const watcher = new SseWatcher('every');
  const usage = emptyUsage();
  const held: SseChunk[] = [];
  let heldBytes = 0;
  let started = false;
  let committed = false;
  let stopped = false;
  const refuse = (failure: AttemptFailure): GateFailure => {
    void rest.return?.();
    return { ok: false, failure };
  };
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
    // Every event of the chunk is checked, the ones after the first content too: nothing of it has been sent yet.
    for (const event of watcher.push(next.value)) {
      if (event.type === 'error') return refuse(streamErrorFailure(event, patterns));
      const fault = event.malformed
        ? `a ${event.type} event that is not valid JSON`
        : orderFault(event, started, committed);
      if (fault !== undefined) return refuse(badStream(`the upstream sent ${fault} before any content`));
      if (event.type === 'ping') continue;
      applyStreamEventUsage(usage, event.type, event.payload);
      if (event.type === 'message_start') started = true;
      else committed = true;
      if (event.type === 'message_stop') stopped = true;
    }
    if (committed) {
      watcher.narrow(DECODED_EVENTS);
      return { ok: true, held, rest, watcher, usage, stopped };
    }
    if (heldBytes > MAX_HELD_BYTES) {
      return refuse(badStream(`the upstream sent more than ${MAX_HELD_BYTES / 1024} KiB without any content`));
    }
  }
}

/** What is wrong with an event's place in the stream's start, if anything. */
function orderFault(event: WatchedEvent, started: boolean, committed: boolean): string | undefined {
  if (event.type === 'ping') return undefined;
  if (!started) {
    if (event.type !== 'message_start') return `${event.type} where the stream must start with message_start`;
    const message = event.payload?.message;
    return message !== null && typeof message === 'object' ? undefined : 'a message_start without its message';
  }
  if (event.type === 'message_start') return 'a second message_start';
  if (!committed && BLOCK_CONTINUATIONS.has(event.type)) return `${event.type} before any content_block_start`;
  return undefined;
}

/** The upstream answered 200 with something that is not a well-formed Messages stream. */
export function badStream(message: string): AttemptFailure {
  return { outcome: 'bad_stream', message, countsAgainstHealth: true, status: 502 };
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
