import type { CachedAnswer, ChunkSource, DedupLease } from './dedup.store';

/** What the dedup interceptor decided for a request; the messages handler acts on it. */
export type DedupTicket =
  | { readonly role: 'leader'; readonly lease: DedupLease; readonly orphanGraceMs: number }
  | { readonly role: 'follower'; readonly source: ChunkSource }
  | { readonly role: 'replay'; readonly answer: CachedAnswer };
