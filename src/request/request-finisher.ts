import { Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessLogger } from '../logging/access-log';
import { LiveTraffic } from '../metrics/live-traffic';
import { MetricsService } from '../metrics/metrics.service';
import type { RequestContext } from './request-context';

/**
 * The one place a request ends. Whatever path it took (answered, refused by a guard or the body parser, served by
 * another request's call or the replay cache, or left by its client), the response's close runs this exactly once:
 * request metrics, the access line, then the context's finish hooks.
 */
@Injectable()
export class RequestFinisher {
  private readonly logger = new Logger('Requests');

  constructor(
    private readonly metrics: MetricsService,
    private readonly access: AccessLogger,
    private readonly traffic: LiveTraffic,
  ) {}

  /** The request now counts as in flight until it ends. */
  track(context: RequestContext): void {
    if (context.serving) return;
    context.serving = true;
    this.metrics.inflight.inc();
  }

  finish(context: RequestContext, request: FastifyRequest, reply: FastifyReply, logged: boolean): void {
    if (!context.end()) return;
    try {
      const aborted = !reply.raw.writableFinished;
      if (context.serving) this.metrics.inflight.dec();
      if (context.isMessages) this.count(context, aborted ? 'client_closed' : this.statusOf(context, reply));
      if (logged) this.access.write(request, reply, context.fields, aborted);
    } catch (error) {
      this.logger.error(`[${context.id}] Could not record the end of a request: ${(error as Error)?.stack}`);
    }
  }

  private statusOf(context: RequestContext, reply: FastifyReply): string {
    return context.statusLabel ?? String(reply.raw.statusCode);
  }

  private count(context: RequestContext, status: string): void {
    const { provider } = context;
    this.metrics.requests.labels(provider, context.modelLabel, status, context.clientName).inc();
    const now = Date.now();
    // Requests refused before routing count as traffic, but their error answer's first byte says nothing of a provider.
    const routed = context.modelLabel !== 'none';
    const firstByteMs =
      routed && context.firstByteAt !== undefined ? context.firstByteAt - context.receivedAt : undefined;
    this.traffic.record(provider, status, firstByteMs, now);
    if (!routed) return;
    this.metrics.requestDuration
      .labels(provider, String(context.message?.stream ?? false))
      .observe((now - context.receivedAt) / 1000);
    if (firstByteMs !== undefined) this.metrics.timeToFirstByte.labels(provider).observe(firstByteMs / 1000);
  }
}
