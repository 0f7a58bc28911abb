import { InMemorySelectionStore } from '../in-memory-selection.store';
import { SelectionStore } from '../selection.store';
import type { StateBackend } from './state-backend';

const SWEEP_EVERY_MS = 60_000;

/**
 * Rotation turns and sticky choices shared by every replica: a turn is an INCR, so rotation stays even across
 * replicas; a sticky choice is a key that carries when it was made, so a Claude Code session keeps its provider (or
 * account) whichever replica it reaches. While Redis does not answer, this replica's own turns and choices serve.
 */
export class RedisSelectionStore extends SelectionStore {
  private readonly local: InMemorySelectionStore;
  private lastSweepAt = -Infinity;

  constructor(
    private readonly backend: StateBackend,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.local = new InMemorySelectionStore(now);
  }

  async nextTurn(route: string): Promise<number> {
    const turn = await this.backend.run(() => this.backend.redis.incr(`turn:${route}`));
    return turn === undefined ? this.local.nextTurn(route) : turn - 1;
  }

  async peekTurn(route: string): Promise<number> {
    const turn = await this.backend.run(() => this.backend.redis.get(`turn:${route}`));
    return turn === undefined ? this.local.peekTurn(route) : Number(turn ?? 0);
  }

  async stickyChoice(key: string, maxAgeMs: number): Promise<string | undefined> {
    const value = await this.backend.run(() => this.backend.redis.get(`sticky:${key}`));
    if (value === undefined) return this.local.stickyChoice(key, maxAgeMs);
    if (value === null) return undefined;
    const separator = value.indexOf(':');
    const at = Number(value.slice(0, separator));
    return this.now() - at > maxAgeMs ? undefined : value.slice(separator + 1);
  }

  async stick(key: string, provider: string): Promise<void> {
    await this.local.stick(key, provider);
    // Sticky choices live at most a day in Redis, whatever age the readers accept, so that keys never pile up.
    await this.backend.run(() =>
      this.backend.redis.set(`sticky:${key}`, `${this.now()}:${provider}`, 'PX', 86_400_000),
    );
  }

  async sweep(maxAgeMs: number): Promise<void> {
    await this.local.sweep(maxAgeMs);
    // The job calls this every second; the shared keys expire by themselves, so a scan once a minute is plenty.
    if (this.now() - this.lastSweepAt < SWEEP_EVERY_MS) return;
    this.lastSweepAt = this.now();
    const cutoff = this.now() - maxAgeMs;
    for (const key of await this.backend.scan('sticky:*')) {
      const value = await this.backend.run(() => this.backend.redis.get(key));
      if (value && Number(value.slice(0, value.indexOf(':'))) < cutoff) {
        await this.backend.run(() => this.backend.redis.del(key));
      }
    }
  }
}
