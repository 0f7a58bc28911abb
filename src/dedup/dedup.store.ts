import type { SharedCall } from './shared-call';

/** A finished, successful answer kept for replay: the Anthropic message as JSON, and the headers it was sent with. */
export interface CachedAnswer {
  readonly body: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly provider: string;
}

export interface ClaimResult {
  readonly call: SharedCall;
  /** True for the request that must make the upstream call; false for one attached to a call already running. */
  readonly leader: boolean;
}

export interface DedupStoreStats {
  readonly inflight: number;
  readonly cached: number;
  readonly cachedBytes: number;
}

/**
 * Where in-flight calls and replayable answers live. Asynchronous so that a store shared between replicas can
 * implement it; the in-memory store is the single-process one (and the reference for the contract).
 */
export abstract class DedupStore {
  /** The running call for a signature, or registers the one `create` makes: atomic for concurrent identical requests. */
  abstract claim(signature: string, create: () => SharedCall): Promise<ClaimResult>;
  /** Forgets a call once it has ended (only if it is still the one registered). */
  abstract forget(signature: string, call: SharedCall): Promise<void>;
  abstract cached(signature: string): Promise<CachedAnswer | undefined>;
  abstract remember(signature: string, answer: CachedAnswer): Promise<void>;
  abstract stats(): Promise<DedupStoreStats>;
  /** Frees answers past their TTL without waiting for a lookup of the same request (a store with native TTLs no-ops). */
  abstract evictExpired(): Promise<void>;
}
