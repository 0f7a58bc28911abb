import type { CallEnd } from '../messages/call-answer';
import type { CachedAnswer, DedupClaim, DedupStoreStats } from './dedup.store';
import { DedupStore } from './dedup.store';
import { InMemoryCallLog, JOINABLE_LOG_MAX_BYTES } from './in-memory-call-log';

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

/** One process: calls in flight in a map, replayable answers in an LRU bounded by count, bytes and age. */
export class InMemoryDedupStore extends DedupStore {
  private readonly inflight = new Map<string, InMemoryCallLog>();
  private readonly cache = new Map<string, CacheEntry>();
  private cacheBytes = 0;

  constructor(
    private readonly limits: () => ReplayCacheLimits,
    private readonly now: () => number = Date.now,
    private readonly joinableBytes = JOINABLE_LOG_MAX_BYTES,
  ) {
    super();
  }

  claim(signature: string): Promise<DedupClaim> {
    const running = this.inflight.get(signature);
    if (running?.joinable) {
      running.reserve();
      return Promise.resolve({ role: 'follower', source: running });
    }
    const log = new InMemoryCallLog(
      (ended, outcome) => this.settle(signature, ended, outcome),
      (full) => this.release(signature, full),
      this.joinableBytes,
    );
    this.inflight.set(signature, log);
    return Promise.resolve({ role: 'leader', lease: log });
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

  private settle(signature: string, log: InMemoryCallLog, outcome: CallEnd): void {
    this.release(signature, log);
    if (outcome.failed || this.limits().ttlMs <= 0) return;
    const answer = replayable(log);
    if (answer) void this.remember(signature, answer);
  }

  /** Forgets a call (only if it is still the one registered), so the next identical request leads anew. */
  private release(signature: string, log: InMemoryCallLog): void {
    if (this.inflight.get(signature) === log) this.inflight.delete(signature);
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

/** A finished successful call as a replayable answer (streams are assembled into their message). */
export function replayable(log: InMemoryCallLog): CachedAnswer | undefined {
  const head = log.answerHead;
  if (!head || head.status < 200 || head.status >= 300) return undefined;
  const provider = head.headers['x-provider-used'] ?? 'none';
  if (head.kind === 'message') return { body: head.body, status: head.status, headers: head.headers, provider };
  if (head.kind !== 'stream') return undefined;
  const message = log.message();
  return message ? { body: JSON.stringify(message), status: head.status, headers: head.headers, provider } : undefined;
}
