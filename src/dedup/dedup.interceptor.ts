import { createHash } from 'node:crypto';
import { type CallHandler, type ExecutionContext, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Observable } from 'rxjs';
import { from, switchMap } from 'rxjs';
import { presentedKey } from '../auth/presented-key';
import { ActiveConfig } from '../config/active-config';
import { requestIdOf } from '../logging/request-log';
import { checkedBody } from '../messages/message-request';
import { MetricsService } from '../metrics/metrics.service';
import type { CachedAnswer } from './dedup.store';
import { DedupStore } from './dedup.store';
import type { DedupTicket } from './dedup-ticket';
import { assembleMessage } from './message-assembler';
import { requestSignature } from './request-signature';
import { SharedCall } from './shared-call';

/**
 * Merges identical requests: the first runs upstream, identical ones that arrive while it runs attach to it, and
 * with a replay cache a finished answer is served again for a while. Requests are only ever merged within one
 * client's scope.
 */
@Injectable()
export class DedupInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Dedup');

  constructor(
    private readonly active: ActiveConfig,
    private readonly store: DedupStore,
    private readonly metrics: MetricsService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const runtime = this.active.runtime;
    const settings = runtime.config.settings.deduplication;
    if (!settings.enabled) return next.handle();
    // The handler's own checks, first: a request it would refuse must never lead or join a call.
    const body = checkedBody(request, runtime);
    const signature = requestSignature(body, request.headers, scopeOf(request), {
      includeMaxTokens: settings.includeMaxTokensInSignature,
    });
    return from(this.ticketFor(signature, settings.orphanGraceSeconds * 1000, requestIdOf(request.raw))).pipe(
      switchMap((ticket) => {
        request.dedupTicket = ticket;
        return next.handle();
      }),
    );
  }

  private async ticketFor(signature: string, orphanGraceMs: number, requestId: string): Promise<DedupTicket> {
    const answer = await this.store.cached(signature);
    if (answer) {
      this.hit('cache', requestId);
      return { role: 'replay', answer };
    }
    const { call, leader } = await this.store.claim(signature, () => new SharedCall(orphanGraceMs));
    if (!leader) {
      this.hit('inflight', requestId);
      return { role: 'follower', call };
    }
    void call.ended
      .then(() => this.settle(signature, call))
      .catch((error: unknown) => this.logger.error(`Could not settle a finished call: ${(error as Error)?.message}`));
    return { role: 'leader', call };
  }

  private async settle(signature: string, call: SharedCall): Promise<void> {
    await this.store.forget(signature, call);
    const answer = this.active.runtime.config.settings.deduplication.cacheTtlSeconds > 0 ? replayable(call) : undefined;
    if (answer) await this.store.remember(signature, answer);
  }

  private hit(kind: 'inflight' | 'cache', requestId: string): void {
    this.metrics.dedupHits.labels(kind).inc();
    this.logger.log(
      `[${requestId}] served from ${kind === 'cache' ? 'the replay cache' : 'an identical request in flight'}`,
    );
  }
}

/** Who may share answers: the client, or without client auth the credential the caller presented. */
function scopeOf(request: FastifyRequest): string {
  if (request.gatewayClient) return `client:${request.gatewayClient.name}`;
  const key = presentedKey(request.headers);
  return key ? `key:${createHash('sha256').update(key).digest('hex')}` : 'anonymous';
}

/** A finished successful call as a replayable answer (streams are assembled into their message). */
function replayable(call: SharedCall): CachedAnswer | undefined {
  const head = call.head;
  if (!head || call.failed || head.status < 200 || head.status >= 300) return undefined;
  const provider = head.headers['x-provider-used'] ?? 'none';
  if (head.kind === 'message') return { body: head.body, status: head.status, headers: head.headers, provider };
  if (head.kind !== 'stream') return undefined;
  const message = assembleMessage(call.log);
  return message ? { body: JSON.stringify(message), status: head.status, headers: head.headers, provider } : undefined;
}
