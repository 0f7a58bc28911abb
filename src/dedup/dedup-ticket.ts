import type { CachedAnswer, ChunkSource, DedupLease } from './dedup.store';

/** What the dedup interceptor decided for a request; the messages handler acts on it. */
export type DedupTicket =
  | { readonly role: 'leader'; readonly lease: DedupLease; readonly orphanGraceMs: number }
  | {
      readonly role: 'follower';
      readonly source: ChunkSource;
      /** Decides again, for a follower whose call was given up before it answered (absent on a second decision). */
      readonly reclaim?: () => Promise<DedupTicket>;
    }
  | { readonly role: 'replay'; readonly answer: CachedAnswer };
