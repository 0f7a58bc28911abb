import type { CallEnd, CallHead } from '../../messages/call-answer';
import type { InMemoryCallLog } from '../in-memory-call-log';
import type { StreamEntry, TailReader } from './stream-tail';

const LEADER_GONE: NonNullable<CallEnd['error']> = {
  type: 'api_error',
  message:
    'The gateway replica answering an identical request stopped before its answer was complete; retry the request.',
};

/**
 * Feeds a call another replica leads into this replica's log of it, from the answer stream in Redis: the local
 * readers get the head, the chunks and the end as the leader wrote them. When the leader is gone before the end (or
 * Redis cannot be reached to know), the log gives the call up: readers that have sent nothing make their own call,
 * the others are told with an error instead of waiting forever.
 */
export class RemoteCallFeed implements TailReader {
  private started = false;
  private finished = false;

  constructor(
    private readonly log: InMemoryCallLog,
    private readonly onFinished: () => void,
  ) {}

  get done(): boolean {
    return this.finished;
  }

  /** Whether the leader has written anything yet (until then it may not know that this replica reads along). */
  get hasStarted(): boolean {
    return this.started;
  }

  async deliver(entries: readonly StreamEntry[]): Promise<void> {
    for (const entry of entries) {
      if (this.finished) return;
      const head = entry.get('h');
      if (head) {
        this.started = true;
        this.log.start(JSON.parse(head.toString()) as CallHead);
      }
      const data = entry.get('d');
      if (data && !this.log.write(data)) await this.log.drained();
      const end = entry.get('e');
      if (end) this.finish(JSON.parse(end.toString()) as CallEnd);
    }
  }

  /** The leader stopped without finishing, or cannot be reached. */
  leaderGone(): void {
    if (this.finished) return;
    this.finished = true;
    this.log.giveUp(LEADER_GONE);
    this.onFinished();
  }

  /** Nobody here reads along any more. */
  stop(): void {
    this.finished = true;
    this.onFinished();
  }

  private finish(outcome: CallEnd): void {
    this.finished = true;
    this.log.end(outcome);
    this.onFinished();
  }
}
