import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { type Observable, tap } from 'rxjs';

/**
 * Owns the access line of the routes it wraps: what the handler failed with goes on the request's line (the
 * finisher writes it when the response closes). Requests refused before it runs (body parsing, guards) reach the
 * same line through the exception filter, so every request is logged once.
 */
@Injectable()
export class AccessLogInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    return next.handle().pipe(
      tap({
        error: (error: unknown) => {
          request.gateway.fields.error ??= error instanceof Error ? error.message : String(error);
        },
      }),
    );
  }
}
