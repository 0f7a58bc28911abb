import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, errorTypeForStatus, GatewayError } from './gateway-error';

/**
 * The one place thrown errors become responses: every error body has Anthropic's shape, including Nest's and
 * Fastify's own (unknown routes, body parser errors). An error after a stream started cannot change the status; it
 * only ends it. An error that is not the gateway's own is a bug: logged with its causes, answered as a 500.
 */
@Catch()
export class AnthropicExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    if (reply.sent || reply.raw.headersSent) {
      if (!reply.raw.writableEnded) reply.raw.end();
      return;
    }
    const context = request.gateway;
    const requestId = context?.id ?? request.id;
    const error = this.describe(exception, requestId);
    if (context) context.fields.error = error.message;
    void reply
      .code(error.status)
      .headers({ ...error.headers, 'x-request-id': requestId })
      .type('application/json')
      .send(errorBody(error.type, error.message, requestId));
  }

  private describe(exception: unknown, requestId: string): GatewayError {
    if (exception instanceof GatewayError) {
      if (exception.status >= 500 && exception.cause !== undefined) logUnexpected(this.logger, requestId, exception);
      return exception;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const raw = typeof response === 'string' ? response : (response as { message?: unknown }).message;
      const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : exception.message;
      return new GatewayError(status, errorTypeForStatus(status), friendlier(status, message));
    }
    const internal = GatewayError.internal(requestId, exception);
    logUnexpected(this.logger, requestId, internal);
    return internal;
  }
}

/** The stack of an unexpected failure and of every cause behind it, for whoever reads the log. */
export function logUnexpected(logger: Logger, requestId: string, error: Error): void {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined; depth += 1) {
    parts.push(current instanceof Error ? (current.stack ?? current.message) : JSON.stringify(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  logger.error(`[${requestId}] ${parts.join('\nCaused by: ')}`);
}

function friendlier(status: number, message: string): string {
  if (status === 415) return 'Send the request body as JSON (Content-Type: application/json).';
  return message;
}
