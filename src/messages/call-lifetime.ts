import type { DedupLease } from '../dedup/dedup.store';

/**
 * Decides when an upstream call is no longer wanted. The call is cancelled once its own client has gone and no
 * identical request reads along; with dedup it first lives on for the orphan grace, so that a client that timed out
 * and retries attaches to it instead of paying for the same answer twice.
 */
export class CallLifetime {
  private readonly aborter = new AbortController();
  private clientPresent = true;
  private done = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly lease: DedupLease | undefined,
    private readonly orphanGraceMs: number,
  ) {
    lease?.onFollowersChange(() => this.review());
  }

  /** Aborted when nobody wants the answer any more; the upstream request uses it. */
  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  clientLeft(): void {
    this.clientPresent = false;
    this.review();
  }

  finish(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  private abort(): void {
    this.lease?.abandon();
    this.aborter.abort();
  }

  private review(): void {
    if (this.done || this.aborter.signal.aborted) return;
    if (this.clientPresent || (this.lease?.followers ?? 0) > 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      return;
    }
    if (!this.lease || this.orphanGraceMs <= 0) {
      this.abort();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (!this.done && !this.clientPresent && (this.lease?.followers ?? 0) === 0) this.abort();
    }, this.orphanGraceMs);
    this.timer.unref();
  }
}
