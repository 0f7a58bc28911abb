import { randomUUID } from 'node:crypto';
import type { StateBackend } from '../state/redis/state-backend';

/**
 * One refresh of an account at a time across every process that shares its tokens. In one process the refresher's
 * single flight is enough; replicas on Redis take a lock that expires by itself if its holder dies.
 */
export abstract class RefreshLock {
  /** Runs `work` holding the account's lock, after waiting (bounded) for another holder to finish. */
  abstract around<T>(email: string, work: () => Promise<T>): Promise<T>;
}

export class LocalRefreshLock extends RefreshLock {
  around<T>(_email: string, work: () => Promise<T>): Promise<T> {
    return work();
  }
}

const LOCK_MS = 30_000;
const WAIT_STEP_MS = 100;
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export class RedisRefreshLock extends RefreshLock {
  constructor(private readonly backend: StateBackend) {
    super();
  }

  async around<T>(email: string, work: () => Promise<T>): Promise<T> {
    const key = `lock:oauth-refresh:${email}`;
    const holder = randomUUID();
    const deadline = Date.now() + LOCK_MS;
    for (;;) {
      const taken = await this.backend.run(() => this.backend.redis.set(key, holder, 'PX', LOCK_MS, 'NX'));
      // Redis away: refreshing unlocked is better than not at all; the store's compare-and-set still guards the token.
      if (taken === 'OK' || taken === undefined || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
    }
    try {
      return await work();
    } finally {
      await this.backend.run(() => this.backend.redis.eval(RELEASE, 1, key, holder));
    }
  }
}
