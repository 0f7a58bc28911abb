import { createHash } from 'node:crypto';
import { type CallHandler, type ExecutionContext, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Observable } from 'rxjs';
import { from, switchMap } from 'rxjs';
import { presentedKey } from '../auth/presented-key';
import { acceptMessage } from '../messages/message-request';
import { MetricsService } from '../metrics/metrics.service';
import type { RequestContext } from '../request/request-context';
import { DedupStore } from './dedup.store';
import type { DedupTicket } from './dedup-ticket';
import { requestSignature } from './request-signature';

/**
 * Merges identical requests: the first leads the upstream call, identical ones that arrive while it runs read along,
 * and with a replay cache a finished answer is served again for a while. Requests are only ever merged within one
 * client's scope.
 */
@Injectable()
export class DedupInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Dedup');

  constructor(
    private readonly store: DedupStore,
    private readonly metrics: MetricsService,
  ) {}

  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = execution.switchToHttp().getRequest<FastifyRequest>();
    const context = request.gateway;
    const settings = context.runtime.config.settings.deduplication;
    if (!settings.enabled) return next.handle();
    // The handler's own checks, first: a request it would refuse must never lead or join a call.
    const message = acceptMessage(context, request, 'messages');
    const signature = requestSignature(message.body, request.headers, scopeOf(context), {
      includeMaxTokens: settings.includeMaxTokensInSignature,
    });
    return from(this.ticketFor(signature, settings.orphanGraceSeconds * 1000, context.id)).pipe(
      switchMap((ticket) => {
        context.dedup = ticket;
        return next.handle();
      }),
    );
  }

  private async ticketFor(
    signature: string,
    orphanGraceMs: number,
    requestId: string,
    firstDecision = true,
  ): Promise<DedupTicket> {
    const answer = await this.store.cached(signature);
    if (answer) {
      this.hit('cache', requestId);
      return { role: 'replay', answer };
    }
    const claim = await this.store.claim(signature);
    if (claim.role === 'follower') {
      this.hit('inflight', requestId);
      const reclaim = () => this.ticketFor(signature, orphanGraceMs, requestId, false);
      return { role: 'follower', source: claim.source, ...(firstDecision ? { reclaim } : {}) };
    }
    return { role: 'leader', lease: claim.lease, orphanGraceMs };
  }

  private hit(kind: 'inflight' | 'cache', requestId: string): void {
    this.metrics.dedupHits.labels(kind).inc();
    this.logger.log(
      `[${requestId}] served from ${kind === 'cache' ? 'the replay cache' : 'an identical request in flight'}`,
    );
  }
}

/** Who may share answers: the client, or without client auth the credential the caller presented. */
function scopeOf(context: RequestContext): string {
  if (context.client) return `client:${context.client.name}`;
  const key = context.message && presentedKey(context.message.headers);
  return key ? `key:${createHash('sha256').update(key).digest('hex')}` : 'anonymous';
}
