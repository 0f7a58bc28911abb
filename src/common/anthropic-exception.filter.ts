import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requestIdOf, requestLogOf } from '../logging/request-log';
import { MetricsService } from '../metrics/metrics.service';
import { errorBody, errorTypeForStatus, GatewayError } from './gateway-error';

/**
 * The one place errors become responses: every error body has Anthropic's shape, including Nest's and Fastify's own
 * (unknown routes, body parser errors). An error after a stream started cannot change the status; it only ends it.
 */
@Catch()
export class AnthropicExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly metrics: MetricsService) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    if (reply.sent || reply.raw.headersSent) {
      if (!reply.raw.writableEnded) reply.raw.end();
      return;
    }
    const requestId = requestIdOf(request.raw);
    const { status, type, message, headers } = this.describe(exception, requestId);
    const log = requestLogOf(request.raw);
    log.error = message;
    if (
      !log.counted &&
      request.url.startsWith('/v1/messages') &&
      !request.url.startsWith('/v1/messages/count_tokens')
    ) {
      // Refused before routing (bad input, auth): the model label stays fixed so callers cannot mint new series.
      this.metrics.requests.labels('none', 'none', String(status), request.gatewayClient?.name ?? 'anonymous').inc();
      log.counted = true;
    }
    void reply
      .code(status)
      .headers({ ...headers, 'x-request-id': requestId })
      .type('application/json')
      .send(errorBody(type, message, requestId));
  }

  private describe(exception: unknown, requestId: string) {
    if (exception instanceof GatewayError) {
      return { status: exception.status, type: exception.type, message: exception.message, headers: exception.headers };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const raw = typeof response === 'string' ? response : (response as { message?: unknown }).message;
      const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : exception.message;
      return { status, type: errorTypeForStatus(status), message: friendlier(status, message), headers: {} };
    }
    this.logger.error(`[${requestId}] Unhandled error: ${(exception as Error)?.stack ?? String(exception)}`);
    return { status: 500, type: 'api_error', message: `Internal server error (request ${requestId})`, headers: {} };
  }
}

function friendlier(status: number, message: string): string {
  if (status === 415) return 'Send the request body as JSON (Content-Type: application/json).';
  return message;
}
