import type { SseChunk } from '../providers/provider-adapter';

/** How the answer to an upstream call starts: what every client reading it is told first. */
export type CallHead =
  | { readonly kind: 'stream'; readonly status: number; readonly headers: Record<string, string> }
  | {
      readonly kind: 'message';
      readonly status: number;
      readonly headers: Record<string, string>;
      readonly body: string;
    }
  /** An answer that is not a success but is the client's own (an upstream 400), or the gateway's error. */
  | {
      readonly kind: 'error';
      readonly status: number;
      readonly headers: Record<string, string>;
      readonly body: string;
    };

/** How a call ended, for readers that must tell a complete answer from a broken one. */
export interface CallEnd {
  /** An error answer, or a stream that broke or was cancelled: such an answer is never replayed. */
  readonly failed: boolean;
  /** For a stream that broke: the error its readers were told (the SSE `error` event's type and message). */
  readonly error?: { readonly type: string; readonly message: string };
}

/**
 * A reader of one call's answer: a client's reply, or the dedup lease that lets identical requests read along.
 * The call's pump feeds every reader synchronously, in order: start, then stream chunks, then end.
 */
export interface CallSink {
  start(head: CallHead): void;
  /** A stream chunk; false when this reader is behind, and the pump waits for `drained()` before reading on. */
  write(chunk: SseChunk): boolean;
  drained(): Promise<void>;
  end(outcome: CallEnd): void;
  /**
   * The call this reader follows was given up before its end (the replica leading it stopped or cannot be reached).
   * A reader that has sent its client nothing yet may make a call of its own instead: it returns true and is read no
   * more. Otherwise it is told with an error.
   */
  takeOver?(): boolean;
}
