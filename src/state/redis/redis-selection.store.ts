import { randomUUID } from 'node:crypto';
import { InMemorySelectionStore } from '../in-memory-selection.store';
import { SelectionStore } from '../selection.store';
import type { StateBackend } from './state-backend';

interface StickNotice {
  readonly key: string;
  readonly provider: string;
  readonly at: number;
  /** The replica that made the choice. */
  readonly from: string;
}

const SWEEP_EVERY_MS = 60_000;
const REWRITE_AFTER_MS = 30_000;

/**
 * Rotation turns and sticky choices shared by every replica: a turn is an INCR, so rotation stays even across
 * replicas; a sticky choice is a key that carries when it was made, so a Claude Code session keeps its provider (or
 * account) whichever replica it reaches. While Redis does not answer, this replica's own turns and choices serve.
 */
export class RedisSelectionStore extends SelectionStore {
  private readonly local: InMemorySelectionStore;
  private lastSweepAt = -Infinity;
  private readonly id = randomUUID();
  /** What this replica last wrote to Redis per key, so that re-sticking the same choice is written only now and then. */
  private readonly written = new Map<string, { readonly provider: string; readonly at: number }>();

  constructor(
    private readonly backend: StateBackend,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.local = new InMemorySelectionStore(now);
    backend.onMessage('sticky', (message) => {
      const { key, provider, at, from } = JSON.parse(message) as StickNotice;
      // Its own notices come back to this replica too, possibly after a sweep dropped the choice: they are old news.
      if (from !== this.id) this.local.adopt(key, provider, at);
    });
  }

  async nextTurn(route: string): Promise<number> {
    const turn = await this.backend.run(() => this.backend.redis.incr(`turn:${route}`));
    return turn === undefined ? this.local.nextTurn(route) : turn - 1;
  }

  async peekTurn(route: string): Promise<number> {
    const turn = await this.backend.run(() => this.backend.redis.get(`turn:${route}`));
    return turn === undefined ? this.local.peekTurn(route) : Number(turn ?? 0);
  }

  /** From the local mirror; only a choice this replica has not seen yet costs a read from Redis. */
  async stickyChoice(key: string, maxAgeMs: number): Promise<string | undefined> {
    const local = await this.local.stickyChoice(key, maxAgeMs);
    if (local !== undefined) return local;
    const value = await this.backend.run(() => this.backend.redis.get(`sticky:${key}`));
    if (!value) return undefined;
    const separator = value.indexOf(':');
    const at = Number(value.slice(0, separator));
    const provider = value.slice(separator + 1);
    this.local.adopt(key, provider, at);
    return this.now() - at > maxAgeMs ? undefined : provider;
  }

  /**
   * Kept locally at once; written to Redis and announced to the other replicas only when the choice changes or has
   * not been written for a while, so that a session's steady stream of requests costs Redis nothing.
   */
  async stick(key: string, provider: string): Promise<void> {
    await this.local.stick(key, provider);
    const now = this.now();
    const written = this.written.get(key);
    if (written?.provider === provider && now - written.at < REWRITE_AFTER_MS) return;
    this.written.set(key, { provider, at: now });
    const value = `${now}:${provider}`;
    // Sticky choices live at most a day in Redis, whatever age the readers accept, so that keys never pile up.
    await this.backend.run(() => this.backend.redis.set(`sticky:${key}`, value, 'PX', 86_400_000));
    const notice: StickNotice = { key, provider, at: now, from: this.id };
    void this.backend.publish('sticky', JSON.stringify(notice));
  }

  async sweep(maxAgeMs: number): Promise<void> {
    await this.local.sweep(maxAgeMs);
    const cutoff = this.now() - maxAgeMs;
    for (const [key, entry] of this.written) if (entry.at < cutoff) this.written.delete(key);
    // The job calls this every second; the shared keys expire by themselves, so a scan once a minute is plenty.
    if (this.now() - this.lastSweepAt < SWEEP_EVERY_MS) return;
    this.lastSweepAt = this.now();
    for (const key of await this.backend.scan('sticky:*')) {
      const value = await this.backend.run(() => this.backend.redis.get(key));
      if (value && Number(value.slice(0, value.indexOf(':'))) < cutoff) {
        await this.backend.run(() => this.backend.redis.del(key));
      }
    }
  }
}
