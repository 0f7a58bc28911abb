/**
 * Round-robin turns per route and sticky choices (a provider per route, or per route and Claude Code session). A
 * shared store makes a session keep its provider whichever replica it reaches, and keeps rotation roughly even.
 */
export abstract class SelectionStore {
  /** The route's turn for this request, advancing it. */
  abstract nextTurn(route: string): Promise<number>;
  /** The route's next turn without advancing it (dry runs). */
  abstract peekTurn(route: string): Promise<number>;
  /** The provider chosen for `key` within the last `maxAgeMs`, if any. */
  abstract stickyChoice(key: string, maxAgeMs: number): Promise<string | undefined>;
  abstract stick(key: string, provider: string): Promise<void>;
  /** Drops sticky choices older than maxAgeMs, so that per-session keys cannot grow without bound. */
  abstract sweep(maxAgeMs: number): Promise<void>;
}
