export const LIVE_WINDOW_SECONDS = 60;
/** Time-to-first-byte samples kept per provider per second; past it, a uniform sample of that second's requests. */
const SAMPLES_PER_SECOND = 64;

/** One provider's requests in one second of the window. */
class SecondSlot {
  second = -1;
  requests = 0;
  failed = 0;
  rejected = 0;
  firstByteSamples: number[] = [];
  /** Requests that sent a first byte this second (the samples are drawn from them). */
  firstBytes = 0;

  reset(second: number): void {
    this.second = second;
    this.requests = 0;
    this.failed = 0;
    this.rejected = 0;
    this.firstByteSamples = [];
    this.firstBytes = 0;
  }
}

/** How one provider's last minute looked on this replica. */
export interface ProviderTraffic {
  readonly provider: string;
  readonly requests: number;
  /** Answers with a 5xx status: the gateway could not serve them. */
  readonly failed: number;
  /** Answers with a 4xx status: refused or the client's own fault. */
  readonly rejected: number;
  /** Requests ended in each second of the window, oldest first. */
  readonly perSecond: readonly number[];
  readonly ttfbP50Ms: number | null;
  readonly ttfbP95Ms: number | null;
}

/**
 * The last minute of traffic per provider, for the dashboard: counts per second and a sample of times to first byte.
 * Prometheus holds the long history; this is what a person looking at one replica wants to see without a query.
 */
export class LiveTraffic {
  private readonly windows = new Map<string, SecondSlot[]>();

  constructor(private readonly random: () => number = Math.random) {}

  record(provider: string, status: string, firstByteMs: number | undefined, now = Date.now()): void {
    const slot = this.slotFor(provider, Math.floor(now / 1000));
    slot.requests += 1;
    const code = Number(status);
    if (code >= 500) slot.failed += 1;
    else if (code >= 400) slot.rejected += 1;
    if (firstByteMs === undefined) return;
    slot.firstBytes += 1;
    if (slot.firstByteSamples.length < SAMPLES_PER_SECOND) {
      slot.firstByteSamples.push(firstByteMs);
      return;
    }
    const pick = Math.floor(this.random() * slot.firstBytes);
    if (pick < SAMPLES_PER_SECOND) slot.firstByteSamples[pick] = firstByteMs;
  }

  snapshot(now = Date.now()): ProviderTraffic[] {
    const current = Math.floor(now / 1000);
    const oldest = current - LIVE_WINDOW_SECONDS + 1;
    const traffic: ProviderTraffic[] = [];
    for (const [provider, slots] of this.windows) {
      const perSecond = new Array<number>(LIVE_WINDOW_SECONDS).fill(0);
      let requests = 0;
      let failed = 0;
      let rejected = 0;
      const samples: number[] = [];
      for (const slot of slots) {
        if (slot.second < oldest || slot.second > current) continue;
        perSecond[slot.second - oldest] = slot.requests;
        requests += slot.requests;
        failed += slot.failed;
        rejected += slot.rejected;
        samples.push(...slot.firstByteSamples);
      }
      if (requests === 0) {
        // Quiet for a whole window (or gone in a reload): its slots are freed, and a new request makes them again.
        this.windows.delete(provider);
        continue;
      }
      samples.sort((a, b) => a - b);
      traffic.push({
        provider,
        requests,
        failed,
        rejected,
        perSecond,
        ttfbP50Ms: percentile(samples, 0.5),
        ttfbP95Ms: percentile(samples, 0.95),
      });
    }
    return traffic.sort((a, b) => a.provider.localeCompare(b.provider));
  }

  private slotFor(provider: string, second: number): SecondSlot {
    let slots = this.windows.get(provider);
    if (!slots) {
      slots = Array.from({ length: LIVE_WINDOW_SECONDS }, () => new SecondSlot());
      this.windows.set(provider, slots);
    }
    const slot = slots[second % LIVE_WINDOW_SECONDS]!;
    if (slot.second !== second) slot.reset(second);
    return slot;
  }
}

/** The nearest-rank percentile of sorted values, rounded to the millisecond. */
function percentile(sorted: readonly number[], fraction: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return Math.round(sorted[rank]!);
}
