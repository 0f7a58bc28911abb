import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { from, type Observable, switchMap } from 'rxjs';
import { ClientLimiter, hasLimits } from './client-limiter';

/** Client limits, before dedup and routing: a follower or a replay is a request too. */
@Injectable()
export class ClientLimitInterceptor implements NestInterceptor {
  constructor(private readonly limiter: ClientLimiter) {}

  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const context = execution.switchToHttp().getRequest<FastifyRequest>().gateway;
    if (!context.client || !hasLimits(context.client)) return next.handle();
    return from(this.limiter.admit(context)).pipe(switchMap(() => next.handle()));
  }
}
