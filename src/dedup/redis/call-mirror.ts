import type { CallEnd, CallHead, CallSink } from '../../messages/call-answer';
import type { SseChunk } from '../../providers/provider-adapter';

/**
 * Chunks written within this long go to Redis as one stream entry: a fast stream costs a command per batch, not per
 * chunk, and readers on other replicas are at most this much behind.
 */
const BATCH_MS = 10;

/** One append to a call's answer stream (field, value pairs, and whether the call ended with it); false if it failed. */
export type MirrorAppend = (fields: (string | Buffer)[], last: boolean) => Promise<boolean>;

/**
 * A reader of the leader's call that copies its answer into a Redis stream for readers on other replicas: the head
 * (`h`), the stream bytes (`d`) and the end (`e`). Attached only once another replica reads along; attaching replays
 * everything answered so far, so those readers still get the answer from its first byte.
 */
export class CallMirror implements CallSink {
  private head: string | undefined;
  private pending: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Appends go one at a time, so that a failed one is never followed by a later one: readers never see a gap. */
  private chain: Promise<boolean> = Promise.resolve(true);

  constructor(
    private readonly append: MirrorAppend,
    /** An append failed: the readers on other replicas cannot get this answer whole and must be told so. */
    private readonly onBroken: () => void,
  ) {}

  start(head: CallHead): void {
    this.head = JSON.stringify(head);
    this.flushSoon();
  }

  write(chunk: SseChunk): boolean {
    if (this.ended) return true;
    this.pending.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    this.flushSoon();
    return true;
  }

  drained(): Promise<void> {
    return Promise.resolve();
  }

  end(outcome: CallEnd): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.send([...this.batch(), 'e', JSON.stringify(outcome)], true);
  }

  /** No replica reads along any more: nothing further is written. */
  stop(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.pending = [];
  }

  private flushSoon(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.ended) return;
      const fields = this.batch();
      if (fields.length > 0) this.send(fields, false);
    }, BATCH_MS);
  }

  private send(fields: (string | Buffer)[], last: boolean): void {
    this.chain = this.chain.then(async (ok) => {
      if (!ok) return false;
      const sent = await this.append(fields, last);
      if (!sent) this.onBroken();
      return sent;
    });
  }

  private batch(): (string | Buffer)[] {
    const fields: (string | Buffer)[] = [];
    if (this.head !== undefined) {
      fields.push('h', this.head);
      this.head = undefined;
    }
    if (this.pending.length > 0) {
      fields.push('d', this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending));
      this.pending = [];
    }
    return fields;
  }
}
