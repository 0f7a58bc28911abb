import { SelectionStore } from './selection.store';

interface StickyEntry {
  readonly provider: string;
  readonly at: number;
}

/** Turns and sticky choices for one process. */
export class InMemorySelectionStore extends SelectionStore {
  private readonly counters = new Map<string, number>();
  private readonly sticky = new Map<string, StickyEntry>();

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  nextTurn(route: string): Promise<number> {
    const turn = this.counters.get(route) ?? 0;
    this.counters.set(route, turn + 1);
    return Promise.resolve(turn);
  }

  peekTurn(route: string): Promise<number> {
    return Promise.resolve(this.counters.get(route) ?? 0);
  }

  stickyChoice(key: string, maxAgeMs: number): Promise<string | undefined> {
    const entry = this.sticky.get(key);
    if (!entry) return Promise.resolve(undefined);
    if (this.now() - entry.at > maxAgeMs) {
      this.sticky.delete(key);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(entry.provider);
  }

  stick(key: string, provider: string): Promise<void> {
    this.adopt(key, provider, this.now());
    return Promise.resolve();
  }

  /** A choice made at `at` (here or, for a shared store's mirror, on another replica). */
  adopt(key: string, provider: string, at: number): void {
    const current = this.sticky.get(key);
    if (!current || current.at <= at) this.sticky.set(key, { provider, at });
  }

  sweep(maxAgeMs: number): Promise<void> {
    const cutoff = this.now() - maxAgeMs;
    for (const [key, entry] of this.sticky) if (entry.at < cutoff) this.sticky.delete(key);
    return Promise.resolve();
  }
}
