import { streamErrorTypeForStatus } from '../common/error-table';
import type { SseChunk } from '../providers/provider-adapter';
import { type AttemptFailure, isAbortError, networkFailure } from '../providers/upstream-failure';
import type { CallEnd, CallSink } from './call-answer';
import { formatSseEvent } from './sse';
import { badStream, type OpenedStream, readStreamError, streamErrorFailure } from './stream-gate';
import { applyStreamEventUsage } from './token-usage';

export interface StreamOutcome {
  /** Set when the upstream failed after the stream had started; the readers got an SSE error event for it. */
  readonly failure?: AttemptFailure;
  /** The call was cancelled (every reader went away) before the end. */
  readonly cancelled: boolean;
  /** How the readers were told the call ended. */
  readonly end: CallEnd;
}

export interface PumpContext {
  readonly provider: string;
  readonly patterns: readonly RegExp[];
  readonly signal: AbortSignal;
  readonly scrub: (text: string) => string;
}

/**
 * The one pump of an upstream stream: the held events, then each upstream chunk as it arrives, written untouched to
 * every reader in turn. Usage, errors and the end are read on the way past. When a reader falls behind, the pump waits
 * for it before reading on, so a slow client slows its upstream instead of growing the gateway's memory. An upstream
 * that breaks, ends without message_stop or sends an event that is not valid JSON gets an SSE `error` event appended
 * (never an invented stop_reason), because the status line has long been sent.
 */
export async function pumpStream(
  opened: OpenedStream,
  readers: readonly CallSink[],
  context: PumpContext,
): Promise<StreamOutcome> {
  let sawStop = opened.stopped;
  let failure: AttemptFailure | undefined;
  let told: CallEnd['error'];
  const write = async (chunk: SseChunk) => {
    let behind: Promise<void>[] | undefined;
    for (const reader of readers) if (!reader.write(chunk)) (behind ??= []).push(reader.drained());
    if (behind) await Promise.all(behind);
  };
  const fail = async (cause: AttemptFailure) => {
    failure = cause;
    told = {
      type: streamErrorTypeForStatus(cause.status),
      message: context.scrub(`Provider ${context.provider} failed mid-stream: ${cause.message}`),
    };
    await write(formatSseEvent('error', { type: 'error', error: told }));
  };
  try {
    for (const chunk of opened.held) await write(chunk);
    for (;;) {
      let next: IteratorResult<SseChunk>;
      try {
        next = await opened.rest.next();
      } catch (error) {
        if (context.signal.aborted || isAbortError(error)) return cancelled();
        await fail(networkFailure(error));
        return { failure, cancelled: false, end: { failed: true, error: told } };
      }
      if (next.done) break;
      const events = opened.watcher.push(next.value);
      const broken = events.find((event) => event.malformed);
      if (broken) {
        // Relayed, it would make the client's SDK throw on the parse; the chunk is dropped and the stream ended.
        await fail(badStream(`the upstream sent a ${broken.type} event that is not valid JSON`));
        return { failure, cancelled: false, end: { failed: true, error: told } };
      }
      for (const event of events) {
        applyStreamEventUsage(opened.usage, event.type, event.payload);
        if (event.type === 'message_stop') sawStop = true;
        else if (event.type === 'error' && failure === undefined) {
          failure = streamErrorFailure(event, context.patterns);
          told = upstreamError(event.data);
        }
      }
      await write(next.value);
    }
    for (const event of opened.watcher.flush()) if (event.type === 'message_stop') sawStop = true;
    if (!sawStop && failure === undefined) {
      await fail({
        outcome: 'stream_cut',
        message: 'the upstream ended the stream before message_stop',
        countsAgainstHealth: true,
        status: 502,
      });
    }
    if (context.signal.aborted) return cancelled();
    return { failure, cancelled: false, end: { failed: failure !== undefined, error: told } };
  } finally {
    void opened.rest.return?.();
  }
}

function cancelled(): StreamOutcome {
  return { cancelled: true, end: { failed: true } };
}

/** The type and message of an upstream's own `error` event, as its readers saw it. */
function upstreamError(data: string | undefined): CallEnd['error'] {
  const { type, message } = readStreamError(data);
  return { type, message: message ?? 'The upstream stream failed.' };
}
