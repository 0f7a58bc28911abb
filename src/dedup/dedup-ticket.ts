import type { CachedAnswer } from './dedup.store';
import type { SharedCall } from './shared-call';

/** What the dedup interceptor decided for a request; the messages handler acts on it. */
export type DedupTicket =
  | { readonly role: 'leader'; readonly call: SharedCall }
  | { readonly role: 'follower'; readonly call: SharedCall }
  | { readonly role: 'replay'; readonly answer: CachedAnswer };

declare module 'fastify' {
  interface FastifyRequest {
    dedupTicket?: DedupTicket;
  }
}
