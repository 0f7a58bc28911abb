import type { StateBackend } from '../state/redis/state-backend';

/**
 * The tokens each client drew from one account in one usage window (a window is named by its kind and when it
 * resets), so that teammates sharing a subscription can be given fair shares of it.
 */
export abstract class AccountShareStore {
  abstract add(account: string, window: string, client: string, tokens: number): Promise<void>;
  /** Tokens per client in the window, as last known here (routing asks on every request; no round trip for it). */
  abstract tokens(account: string, window: string): ReadonlyMap<string, number>;
}

/** A window is forgotten this long after it was last drawn from (windows last five hours or seven days). */
const WINDOW_KEEP_MS = 8 * 24 * 3600 * 1000;

export class InMemoryAccountShareStore extends AccountShareStore {
  private readonly windows = new Map<string, { byClient: Map<string, number>; touchedAt: number }>();

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  add(account: string, window: string, client: string, tokens: number): Promise<void> {
    this.merge(account, window, client, tokens);
    return Promise.resolve();
  }

  tokens(account: string, window: string): ReadonlyMap<string, number> {
    return this.windows.get(key(account, window))?.byClient ?? new Map();
  }

  /** Adds to this process's view (the Redis store's mirror uses it too). */
  merge(account: string, window: string, client: string, tokens: number): void {
    const now = this.now();
    for (const [name, entry] of this.windows) if (now - entry.touchedAt > WINDOW_KEEP_MS) this.windows.delete(name);
    let entry = this.windows.get(key(account, window));
    if (!entry) {
      entry = { byClient: new Map(), touchedAt: now };
      this.windows.set(key(account, window), entry);
    }
    entry.touchedAt = now;
    entry.byClient.set(client, (entry.byClient.get(client) ?? 0) + tokens);
  }

  replace(account: string, window: string, byClient: Map<string, number>): void {
    this.windows.set(key(account, window), { byClient, touchedAt: this.now() });
  }
}

/** How often a replica reads back the shares the others added to a window it routes on. */
const REFRESH_MS = 2_000;

/**
 * Shares counted by every replica together: increments in a Redis hash per account and window, read back into a
 * local mirror at most every two seconds, so routing never waits for Redis.
 */
export class RedisAccountShareStore extends AccountShareStore {
  private readonly mirror = new InMemoryAccountShareStore();
  private readonly readAt = new Map<string, number>();

  constructor(
    private readonly backend: StateBackend,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  async add(account: string, window: string, client: string, tokens: number): Promise<void> {
    this.mirror.merge(account, window, client, tokens);
    const name = `share:${key(account, window)}`;
    await this.backend.run(() =>
      this.backend.redis.multi().hincrby(name, client, tokens).pexpire(name, WINDOW_KEEP_MS).exec(),
    );
  }

  tokens(account: string, window: string): ReadonlyMap<string, number> {
    const name = key(account, window);
    if (this.now() - (this.readAt.get(name) ?? -Infinity) >= REFRESH_MS) {
      this.readAt.set(name, this.now());
      void this.backend
        .run(() => this.backend.redis.hgetall(`share:${name}`))
        .then((fields) => {
          if (fields) {
            this.mirror.replace(
              account,
              window,
              new Map(Object.entries(fields).map(([client, n]) => [client, Number(n)])),
            );
          }
        });
    }
    return this.mirror.tokens(account, window);
  }
}

function key(account: string, window: string): string {
  return `${account}:${window}`;
}
