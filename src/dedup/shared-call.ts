import type { SseChunk } from '../providers/provider-adapter';

/** How the answer to a call started: what every client attached to it is told first. */
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

export interface CallSubscription {
  readonly head: Promise<CallHead>;
  /** Every chunk of a streaming answer, from the first, then live ones as they arrive; ends when the call ends. */
  chunks(): AsyncGenerator<SseChunk>;
  /** Resolves when the call has ended (or was aborted). */
  readonly ended: Promise<void>;
  /** The client is done with the call (finished or went away). Idempotent. */
  release(): void;
}

/**
 * One upstream call that any number of clients can attach to, at any time while it runs. Chunks are kept so a late
 * client gets the whole answer, and pushed to waiting clients as they arrive (no polling). When the last client
 * leaves before the end, the call lives on for the grace period (a retrying client can attach to it), then is
 * aborted.
 */
export class SharedCall {
  private readonly aborter = new AbortController();
  private readonly chunkLog: SseChunk[] = [];
  private settledHead: CallHead | undefined;
  private headPromise: Promise<CallHead>;
  private resolveHead!: (head: CallHead) => void;
  private finished = false;
  private wake: (() => void) | undefined;
  private next: Promise<void>;
  private readonly endedPromise: Promise<void>;
  private resolveEnded!: () => void;
  private subscribers = 0;
  private orphanTimer: NodeJS.Timeout | undefined;
  private failure = false;

  constructor(private readonly orphanGraceMs: number) {
    this.headPromise = new Promise((resolve) => (this.resolveHead = resolve));
    this.next = this.nextPush();
    this.endedPromise = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  /** Aborted when every client has left and the grace period ran out; the upstream request uses it. */
  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  /** Resolves when the call has ended, however it ended. */
  get ended(): Promise<void> {
    return this.endedPromise;
  }

  get head(): CallHead | undefined {
    return this.settledHead;
  }

  /** Every chunk so far (the whole stream once finished). */
  get log(): readonly SseChunk[] {
    return this.chunkLog;
  }

  /** True when the answer is an error, or a stream that broke: such a call is never replayed. */
  get failed(): boolean {
    return this.failure;
  }

  markFailed(): void {
    this.failure = true;
  }

  setHead(head: CallHead): void {
    if (this.settledHead) return;
    this.settledHead = head;
    if (head.kind === 'error') this.failure = true;
    this.resolveHead(head);
    if (head.kind !== 'stream') this.finish();
  }

  push(chunk: SseChunk): void {
    this.chunkLog.push(chunk);
    this.wakeReaders();
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.orphanTimer);
    this.wakeReaders();
    this.resolveEnded();
  }

  subscribe(): CallSubscription {
    this.subscribers += 1;
    clearTimeout(this.orphanTimer);
    this.orphanTimer = undefined;
    let released = false;
    return {
      head: this.headPromise,
      ended: this.endedPromise,
      chunks: () => this.read(),
      release: () => {
        if (released) return;
        released = true;
        this.leave();
      },
    };
  }

  private leave(): void {
    this.subscribers -= 1;
    if (this.subscribers > 0 || this.finished) return;
    if (this.orphanGraceMs <= 0) {
      this.aborter.abort();
      return;
    }
    this.orphanTimer = setTimeout(() => {
      if (this.subscribers === 0 && !this.finished) this.aborter.abort();
    }, this.orphanGraceMs);
    this.orphanTimer.unref();
  }

  private async *read(): AsyncGenerator<SseChunk> {
    let index = 0;
    for (;;) {
      while (index < this.chunkLog.length) yield this.chunkLog[index++]!;
      if (this.finished) return;
      await this.next;
    }
  }

  private nextPush(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private wakeReaders(): void {
    const wake = this.wake;
    this.next = this.nextPush();
    wake?.();
  }
}
