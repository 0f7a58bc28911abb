import type { CallSink } from '../messages/call-answer';
import type { AssembledMessage } from './message-assembler';

/** A finished, successful answer kept for replay: the Anthropic message as JSON, and the headers it was sent with. */
export interface CachedAnswer {
  readonly body: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly provider: string;
}

/**
 * The leader's hold on a signature: everything its call answers is written here, so that identical requests can read
 * along from the first byte. Ending it releases the signature and, for a complete success with a replay TTL,
 * remembers the answer.
 */
export interface DedupLease extends CallSink {
  /** Requests reading this call through the store right now. */
  readonly followers: number;
  /** Called whenever a follower joins or leaves, so that an orphaned call can live on while someone reads it. */
  onFollowersChange(listener: () => void): void;
  /** The leader gave the call up (nobody wanted it): identical requests from now on lead a call of their own. */
  abandon(): void;
}

/** A follower's way in to a call another request leads. */
export interface ChunkSource {
  /** Feeds the reader what was answered so far, then live until the call ends. */
  attach(reader: CallSink): void;
  /** The reader is done (finished or gone). Idempotent. */
  detach(reader: CallSink): void;
  /** The message a finished streaming call describes, assembled once for every reader that needs it. */
  message(): AssembledMessage | undefined;
}

export type DedupClaim =
  { readonly role: 'leader'; readonly lease: DedupLease } | { readonly role: 'follower'; readonly source: ChunkSource };

export interface DedupStoreStats {
  readonly inflight: number;
  readonly cached: number;
  readonly cachedBytes: number;
}

/**
 * Where in-flight calls and replayable answers live: a lease on each request signature plus a chunk source for the
 * requests that arrive while it is held. Asynchronous so that a store shared between replicas can implement it.
 */
export abstract class DedupStore {
  /** Leads the signature's call, or follows the one already running: atomic for concurrent identical requests. */
  abstract claim(signature: string): Promise<DedupClaim>;
  abstract cached(signature: string): Promise<CachedAnswer | undefined>;
  abstract remember(signature: string, answer: CachedAnswer): Promise<void>;
  abstract stats(): Promise<DedupStoreStats>;
  /** Frees answers past their TTL without waiting for a lookup of the same request (a store with native TTLs no-ops). */
  abstract evictExpired(): Promise<void>;
}
