import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { requestLogOf } from './request-log';

const QUIET_PATHS = /^\/(health|metrics)(\/|\?|$)/;

/**
 * One JSON line per request, written from the root logger when the response closes (finished, or cut short by the
 * client), with what the request's handlers recorded: client, model, provider, attempts, tokens. Health checks and
 * metric scrapes are not logged. No child logger is made per request: on the hot path that costs more than the line.
 */
export function registerAccessLog(fastify: FastifyInstance, logger: Logger): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    if (!QUIET_PATHS.test(request.url)) reply.raw.once('close', () => writeAccessLine(logger, request, reply));
    done();
  });
}

function writeAccessLine(logger: Logger, request: FastifyRequest, reply: FastifyReply): void {
  const { counted: _counted, ...fields } = requestLogOf(request.raw);
  const status = reply.raw.statusCode;
  const aborted = !reply.raw.writableFinished;
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
  if (status >= 500) logger.error(line, message);
  else if (status >= 400 || aborted) logger.warn(line, message);
  else logger.info(line, message);
}
