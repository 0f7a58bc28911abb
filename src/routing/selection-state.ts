interface StickyEntry {
  readonly provider: string;
  readonly at: number;
}

/** Round-robin counters per route and sticky providers per route (and session). In memory, one process. */
export class SelectionState {
  private readonly counters = new Map<string, number>();
  private readonly sticky = new Map<string, StickyEntry>();

  constructor(private readonly now: () => number = Date.now) {}

  nextTurn(route: string): number {
    const turn = this.counters.get(route) ?? 0;
    this.counters.set(route, turn + 1);
    return turn;
  }

  peekTurn(route: string): number {
    return this.counters.get(route) ?? 0;
  }

  stickyProvider(key: string, maxAgeMs: number): string | undefined {
    const entry = this.sticky.get(key);
    if (!entry) return undefined;
    if (this.now() - entry.at > maxAgeMs) {
      this.sticky.delete(key);
      return undefined;
    }
    return entry.provider;
  }

  stick(key: string, provider: string): void {
    this.sticky.set(key, { provider, at: this.now() });
  }

  /** Drops sticky entries older than maxAgeMs, so that per-session keys cannot grow without bound. */
  sweep(maxAgeMs: number): void {
    const cutoff = this.now() - maxAgeMs;
    for (const [key, entry] of this.sticky) if (entry.at < cutoff) this.sticky.delete(key);
  }
}
