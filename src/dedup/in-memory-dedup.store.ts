import type { CachedAnswer, ClaimResult, DedupStoreStats } from './dedup.store';
import { DedupStore } from './dedup.store';
import type { SharedCall } from './shared-call';

export interface ReplayCacheLimits {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

interface CacheEntry {
  readonly answer: CachedAnswer;
  readonly expiresAt: number;
  readonly bytes: number;
}

/** One process: in-flight calls in a map, replayable answers in an LRU bounded by count, bytes and age. */
export class InMemoryDedupStore extends DedupStore {
  private readonly inflight = new Map<string, SharedCall>();
  private readonly cache = new Map<string, CacheEntry>();
  private cacheBytes = 0;

  constructor(
    private readonly limits: () => ReplayCacheLimits,
    private readonly now: () => number = Date.now,
  ) {
    super();
  }

  claim(signature: string, create: () => SharedCall): Promise<ClaimResult> {
    const running = this.inflight.get(signature);
    if (running && !running.signal.aborted) return Promise.resolve({ call: running, leader: false });
    const call = create();
    this.inflight.set(signature, call);
    return Promise.resolve({ call, leader: true });
  }

  forget(signature: string, call: SharedCall): Promise<void> {
    if (this.inflight.get(signature) === call) this.inflight.delete(signature);
    return Promise.resolve();
  }

  cached(signature: string): Promise<CachedAnswer | undefined> {
    const entry = this.cache.get(signature);
    if (!entry) return Promise.resolve(undefined);
    this.cache.delete(signature);
    if (entry.expiresAt <= this.now()) {
      this.cacheBytes -= entry.bytes;
      return Promise.resolve(undefined);
    }
    this.cache.set(signature, entry);
    return Promise.resolve(entry.answer);
  }

  remember(signature: string, answer: CachedAnswer): Promise<void> {
    const { ttlMs, maxEntries, maxBytes } = this.limits();
    const bytes = answer.body.length;
    if (ttlMs <= 0 || maxEntries <= 0 || bytes > maxBytes) return Promise.resolve();
    this.drop(signature);
    this.cache.set(signature, { answer, expiresAt: this.now() + ttlMs, bytes });
    this.cacheBytes += bytes;
    this.evict(maxEntries, maxBytes);
    return Promise.resolve();
  }

  stats(): Promise<DedupStoreStats> {
    this.dropExpired();
    return Promise.resolve({ inflight: this.inflight.size, cached: this.cache.size, cachedBytes: this.cacheBytes });
  }

  evictExpired(): Promise<void> {
    this.dropExpired();
    return Promise.resolve();
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [signature, entry] of this.cache) if (entry.expiresAt <= now) this.drop(signature);
  }

  private evict(maxEntries: number, maxBytes: number): void {
    for (const signature of this.cache.keys()) {
      if (this.cache.size <= maxEntries && this.cacheBytes <= maxBytes) return;
      this.drop(signature);
    }
  }

  private drop(signature: string): void {
    const entry = this.cache.get(signature);
    if (!entry) return;
    this.cache.delete(signature);
    this.cacheBytes -= entry.bytes;
  }
}
