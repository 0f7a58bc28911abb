import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AccessFields } from '../request/request-context';

/**
 * One JSON line per request, from the root logger, with what the request's handlers recorded: client, model,
 * provider, attempts, tokens. No child logger is made per request: on the hot path that costs more than the line.
 */
export class AccessLogger {
  constructor(private readonly logger: Logger) {}

  write(request: FastifyRequest, reply: FastifyReply, fields: AccessFields, aborted: boolean): void {
    const status = reply.raw.statusCode;
    const ms = Math.round(reply.elapsedTime);
    const line = {
      reqId: request.id,
      method: request.method,
      url: request.url,
      status,
      ms,
      ...fields,
      ...(aborted && { aborted }),
    };
    const message = `${request.method} ${request.url} ${status} ${ms}ms${aborted ? ' (client went away)' : ''}`;
    if (status >= 500) this.logger.error(line, message);
    else if (status >= 400 || aborted) this.logger.warn(line, message);
    else this.logger.info(line, message);
  }
}
