import { errorBody } from '../../common/gateway-error';
import type { CallEnd, CallHead } from '../../messages/call-answer';
import { formatSseEvent } from '../../messages/sse';
import type { InMemoryCallLog } from '../in-memory-call-log';
import type { StreamEntry, TailReader } from './stream-tail';

const LEADER_GONE: NonNullable<CallEnd['error']> = {
  type: 'api_error',
  message:
    'The gateway replica answering an identical request stopped before its answer was complete; retry the request.',
};

/**
 * Feeds a call another replica leads into this replica's log of it, from the answer stream in Redis: the local
 * readers get the head, the chunks and the end as the leader wrote them. When the leader is gone before the end, the
 * readers are told with an error instead of waiting forever.
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

  /** The leader stopped without finishing: readers that have the stream get an SSE error, the others an error answer. */
  leaderGone(): void {
    if (this.finished) return;
    if (this.started) {
      this.log.write(formatSseEvent('error', { type: 'error', error: LEADER_GONE }));
    } else {
      this.log.start({
        kind: 'error',
        status: 502,
        headers: {},
        body: JSON.stringify(errorBody(LEADER_GONE.type, LEADER_GONE.message)),
      });
    }
    this.finish({ failed: true, error: LEADER_GONE });
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
