import type Redis from 'ioredis';

/** How long one blocking read waits for new entries before it is issued again with the streams then followed. */
const BLOCK_MS = 200;
const ENTRIES_PER_READ = 64;
const RETRY_AFTER_FAILURE_MS = 250;

/** One stream entry: its fields by name. */
export type StreamEntry = ReadonlyMap<string, Buffer>;

export interface TailReader {
  /** New entries, in order. The tail reads this stream on only once the returned promise settles. */
  deliver(entries: readonly StreamEntry[]): Promise<void> | void;
}

interface Followed {
  readonly reader: TailReader;
  lastId: string;
  busy: boolean;
}

/**
 * Reads every Redis stream this replica follows with one blocking XREAD on a connection of its own, so that readers
 * get entries as they are written without polling and without a connection per stream. A stream added while a read
 * blocks is included in the next one, at most one block later.
 */
export class StreamTail {
  private readonly followed = new Map<string, Followed>();
  private running = false;

  constructor(private readonly connection: Redis) {}

  follow(key: string, reader: TailReader): void {
    this.followed.set(key, { reader, lastId: '0-0', busy: false });
    if (!this.running) void this.loop();
  }

  unfollow(key: string): void {
    this.followed.delete(key);
  }

  close(): void {
    this.followed.clear();
    this.connection.disconnect();
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      while (this.followed.size > 0) {
        const ready = [...this.followed].filter(([, followed]) => !followed.busy);
        if (ready.length === 0 || this.connection.status !== 'ready') {
          await pause(10);
          continue;
        }
        const answer = await this.read(ready);
        if (answer === 'failed') await pause(RETRY_AFTER_FAILURE_MS);
        else for (const [key, entries] of answer) this.hand(key, entries);
      }
    } finally {
      this.running = false;
    }
  }

  private async read(ready: [string, Followed][]): Promise<[string, [string, StreamEntry][]][] | 'failed'> {
    try {
      const reply = await this.connection.xreadBuffer(
        'COUNT',
        ENTRIES_PER_READ,
        'BLOCK',
        BLOCK_MS,
        'STREAMS',
        ...ready.map(([key]) => key),
        ...ready.map(([, followed]) => followed.lastId),
      );
      if (!reply) return [];
      return reply.map(([key, entries]) => [
        // The reply names the stream with the connection's key prefix.
        this.unprefixed(key.toString()),
        entries.map(([id, fields]) => [id.toString(), toEntry(fields)]),
      ]);
    } catch {
      return 'failed';
    }
  }

  private hand(key: string, entries: [string, StreamEntry][]): void {
    const followed = this.followed.get(key);
    const last = entries.at(-1);
    if (!followed || !last) return;
    followed.lastId = last[0];
    followed.busy = true;
    void Promise.resolve(followed.reader.deliver(entries.map(([, entry]) => entry))).finally(() => {
      followed.busy = false;
    });
  }

  private unprefixed(key: string): string {
    const prefix = this.connection.options.keyPrefix ?? '';
    return key.startsWith(prefix) ? key.slice(prefix.length) : key;
  }
}

function toEntry(fields: Buffer[]): StreamEntry {
  const entry = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) entry.set(fields[i]!.toString(), fields[i + 1]!);
  return entry;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
