import { errorBody } from '../common/gateway-error';
import type { CallEnd, CallHead, CallSink } from '../messages/call-answer';
import { formatSseEvent } from '../messages/sse';
import type { SseChunk } from '../providers/provider-adapter';
import type { ChunkSource, DedupLease } from './dedup.store';
import { type AssembledMessage, assembleMessage, StreamAssembly } from './message-assembler';

/**
 * Past this much answer a call stops taking new followers and its chunks are no longer kept: the readers already
 * attached read it live, and its message (for readers that want one) is assembled as it goes instead.
 */
export const JOINABLE_LOG_MAX_BYTES = 8 * 1024 * 1024;

/**
 * One call's answer as identical requests in this process read it: the head and chunks so far (for followers that
 * join late) and the followers reading live. The leader writes into it as one of its call's readers.
 */
export class InMemoryCallLog implements DedupLease, ChunkSource {
  private head: CallHead | undefined;
  private chunks: SseChunk[] | undefined = [];
  private bytes = 0;
  private outcome: CallEnd | undefined;
  private readonly readers = new Set<CallSink>();
  private readonly listeners: (() => void)[] = [];
  /** Followers that claimed the call but have not attached yet: the chunks are kept for them. */
  private pending = 0;
  private assembly: StreamAssembly | undefined;
  private assembled: AssembledMessage | undefined;
  private behind: CallSink[] = [];
  private overflowed = false;
  private takesFollowers = true;
  private givenUp = false;

  constructor(
    private readonly onEnd: (log: InMemoryCallLog, outcome: CallEnd) => void,
    private readonly onUnjoinable: (log: InMemoryCallLog) => void,
    private readonly maxBytes = JOINABLE_LOG_MAX_BYTES,
  ) {}

  get followers(): number {
    return this.readers.size + this.pending;
  }

  get joinable(): boolean {
    return this.takesFollowers && this.outcome === undefined;
  }

  /** Whether a reader attaching now still gets the answer from its first byte. */
  get keepsWholeAnswer(): boolean {
    return this.chunks !== undefined;
  }

  get answerHead(): CallHead | undefined {
    return this.head;
  }

  onFollowersChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  abandon(): void {
    this.closeToFollowers();
  }

  /** A follower claimed the call; it attaches right after the claim resolves. */
  reserve(): void {
    this.pending += 1;
  }

  start(head: CallHead): void {
    this.head ??= head;
    for (const reader of this.readers) reader.start(head);
  }

  write(chunk: SseChunk): boolean {
    if (this.chunks) {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      if (this.bytes > this.maxBytes && !this.overflowed) {
        this.overflowed = true;
        this.closeToFollowers();
        if (this.pending === 0) this.stopKeeping();
      }
    } else {
      this.assembly?.push(chunk);
    }
    this.behind = [];
    for (const reader of this.readers) if (!reader.write(chunk)) this.behind.push(reader);
    return this.behind.length === 0;
  }

  drained(): Promise<void> {
    return Promise.all(this.behind.map((reader) => reader.drained())).then(() => undefined);
  }

  end(outcome: CallEnd): void {
    if (this.outcome) return;
    this.outcome = outcome;
    for (const reader of [...this.readers]) reader.end(outcome);
    this.onEnd(this, outcome);
  }

  /**
   * The call will not be answered here any more (its leader elsewhere stopped or cannot be reached). Each reader, and
   * each follower that attaches later, makes a call of its own if it can; the others are told with `error`: an SSE
   * error event after a stream's start, else an error answer.
   */
  giveUp(error: NonNullable<CallEnd['error']>): void {
    if (this.outcome) return;
    this.givenUp = true;
    this.outcome = { failed: true, error };
    const readers = [...this.readers];
    this.readers.clear();
    for (const reader of readers) if (!reader.takeOver?.()) this.tellGivenUp(reader);
    this.onEnd(this, this.outcome);
  }

  attach(reader: CallSink): void {
    if (this.pending > 0) this.pending -= 1;
    if (this.givenUp && reader.takeOver?.()) return;
    if (this.head) reader.start(this.head);
    for (const chunk of this.chunks ?? []) reader.write(chunk);
    if (this.overflowed && this.pending === 0 && this.chunks) this.stopKeeping();
    if (this.givenUp) {
      this.tellGivenUp(reader);
      return;
    }
    if (this.outcome) {
      reader.end(this.outcome);
      return;
    }
    this.readers.add(reader);
    this.changed();
  }

  detach(reader: CallSink): void {
    if (this.readers.delete(reader)) this.changed();
  }

  message(): AssembledMessage | undefined {
    if (this.assembled) return this.assembled;
    if (this.assembly) {
      this.assembled = this.assembly.finish();
    } else if (this.chunks) {
      this.assembled = assembleMessage(this.chunks);
    }
    return this.assembled;
  }

  private tellGivenUp(reader: CallSink): void {
    const error = this.outcome!.error!;
    if (!this.head) {
      reader.start({
        kind: 'error',
        status: 502,
        headers: {},
        body: JSON.stringify(errorBody(error.type, error.message)),
      });
    } else if (this.head.kind === 'stream') {
      reader.write(formatSseEvent('error', { type: 'error', error }));
    }
    reader.end(this.outcome!);
  }

  private stopKeeping(): void {
    const kept = this.chunks ?? [];
    this.chunks = undefined;
    this.bytes = 0;
    this.assembly = new StreamAssembly();
    for (const chunk of kept) this.assembly.push(chunk);
  }

  private closeToFollowers(): void {
    if (!this.takesFollowers) return;
    this.takesFollowers = false;
    this.onUnjoinable(this);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
