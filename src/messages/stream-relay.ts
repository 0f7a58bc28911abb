import type { SseChunk } from '../providers/provider-adapter';
import { type AttemptFailure, isAbortError, networkFailure } from '../providers/upstream-failure';
import { formatSseEvent } from './sse';
import type { OpenedStream } from './stream-gate';
import { streamErrorFailure } from './stream-gate';
import { applyStreamEventUsage } from './token-usage';

export interface RelayOutcome {
  /** Set when the upstream failed after the stream had started; the client got an SSE error event for it. */
  failure?: AttemptFailure;
  /** The call was cancelled (every client went away) before the end. */
  cancelled: boolean;
}

/**
 * Yields the client's stream: the held events, then each upstream chunk as it arrives, untouched. Usage and errors are
 * read on the way past. An upstream that breaks or ends without message_stop gets an SSE `error` event appended
 * (never an invented stop_reason), because the status line has long been sent.
 */
export async function* relayStream(
  opened: OpenedStream,
  signal: AbortSignal,
  providerName: string,
  patterns: readonly RegExp[],
  outcome: RelayOutcome,
  scrub: (text: string) => string,
): AsyncGenerator<SseChunk> {
  let sawStop = opened.stopped;
  let sawError = false;
  const watch = (chunk: SseChunk) => {
    for (const event of opened.scanner.push(chunk)) {
      applyStreamEventUsage(opened.usage, event.type, event.data);
      if (event.type === 'message_stop') sawStop = true;
      else if (event.type === 'error' && !sawError) {
        sawError = true;
        outcome.failure = streamErrorFailure(event, patterns);
      }
    }
  };
  try {
    for (const chunk of opened.held) yield chunk;
    for (;;) {
      let next: IteratorResult<SseChunk>;
      try {
        next = await opened.rest.next();
      } catch (error) {
        if (signal.aborted || isAbortError(error)) {
          outcome.cancelled = true;
          return;
        }
        outcome.failure = networkFailure(error);
        yield midStreamError(providerName, outcome.failure, scrub);
        return;
      }
      if (next.done) break;
      watch(next.value);
      yield next.value;
    }
    for (const event of opened.scanner.flush()) {
      if (event.type === 'message_stop') sawStop = true;
    }
    if (!sawStop && !sawError) {
      outcome.failure = {
        outcome: 'stream_cut',
        message: 'the upstream ended the stream before message_stop',
        countsAgainstHealth: true,
        status: 502,
      };
      yield midStreamError(providerName, outcome.failure, scrub);
    }
  } finally {
    if (signal.aborted) outcome.cancelled = true;
    void opened.rest.return?.();
  }
}

function midStreamError(providerName: string, failure: AttemptFailure, scrub: (text: string) => string): string {
  const type = failure.status === 529 || failure.status === 503 ? 'overloaded_error' : 'api_error';
  return formatSseEvent('error', {
    type: 'error',
    error: { type, message: scrub(`Provider ${providerName} failed mid-stream: ${failure.message}`) },
  });
}
