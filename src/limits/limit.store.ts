/** A request counted against a rolling window, or refused with when the window lets one through again. */
export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterMs: number };

/**
 * The counters behind client limits: requests in a rolling window, and concurrency slots that expire unless their
 * holder renews them (so a replica that dies holding slots frees them by itself). Checks and increments are one atomic
 * step, never read-modify-write, so replicas sharing a backend enforce one limit, not one each.
 */
export abstract class LimitStore {
  /** Counts a request for `client` unless `limit` requests already fell within the last `windowMs`. */
  abstract hit(client: string, limit: number, windowMs: number): Promise<RateDecision>;
  /** Takes one of `max` slots, held for `ttlMs` unless renewed; false when all are taken. */
  abstract acquire(client: string, slot: string, max: number, ttlMs: number): Promise<boolean>;
  abstract release(client: string, slot: string): Promise<void>;
  /** Extends slots this replica still holds. */
  abstract renew(client: string, slots: readonly string[], ttlMs: number): Promise<void>;
}

/** One process: timestamps per client for the windows, expiry times per slot. */
export class InMemoryLimitStore extends LimitStore {
  private readonly hits = new Map<string, { times: number[]; head: number }>();
  private readonly slots = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  hit(client: string, limit: number, windowMs: number): Promise<RateDecision> {
    const now = this.now();
    let window = this.hits.get(client);
    if (!window) {
      window = { times: [], head: 0 };
      this.hits.set(client, window);
    }
    // The window's requests are times[head..]: leaving it moves the head, and the array is compacted now and then
    // (a high rpm keeps tens of thousands of times; shifting them on every request would cost more than the request).
    const { times } = window;
    while (window.head < times.length && times[window.head]! <= now - windowMs) window.head += 1;
    if (window.head > 1024 && window.head * 2 > times.length) {
      window.times = times.slice(window.head);
      window.head = 0;
    }
    const inWindow = window.times.length - window.head;
    if (inWindow >= limit) {
      return Promise.resolve({ allowed: false, retryAfterMs: window.times[window.head]! + windowMs - now });
    }
    window.times.push(now);
    return Promise.resolve({ allowed: true });
  }

  acquire(client: string, slot: string, max: number, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const held = this.held(client, now);
    if (held.size >= max) return Promise.resolve(false);
    held.set(slot, now + ttlMs);
    return Promise.resolve(true);
  }

  release(client: string, slot: string): Promise<void> {
    this.slots.get(client)?.delete(slot);
    return Promise.resolve();
  }

  renew(client: string, slots: readonly string[], ttlMs: number): Promise<void> {
    const held = this.slots.get(client);
    const until = this.now() + ttlMs;
    for (const slot of slots) if (held?.has(slot)) held.set(slot, until);
    return Promise.resolve();
  }

  private held(client: string, now: number): Map<string, number> {
    let held = this.slots.get(client);
    if (!held) {
      held = new Map();
      this.slots.set(client, held);
    }
    for (const [slot, until] of held) if (until <= now) held.delete(slot);
    return held;
  }
}
