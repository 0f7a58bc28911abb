import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ActiveConfig } from '../config/active-config';
import { RequestContext } from './request-context';
import type { RequestFinisher } from './request-finisher';

const QUIET_PATHS = /^\/(health|metrics)(\/|\?|$)/;
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's x-request-id when it is sane, else a new `req_…` id. */
export function requestIdFor(req: IncomingMessage): string {
  const sent = req.headers['x-request-id'];
  return typeof sent === 'string' && CLIENT_ID.test(sent) ? sent : newRequestId();
}

export function newRequestId(): string {
  return `req_${randomUUID().replaceAll('-', '')}`;
}

/**
 * Gives every request its context before anything else runs (body parsing, guards, routing), and ends it when the
 * response closes: finished, or cut short by the client. Health checks and metric scrapes are not logged.
 */
export function registerRequestLifecycle(
  fastify: FastifyInstance,
  active: ActiveConfig,
  finisher: RequestFinisher,
): void {
  fastify.decorateRequest('gateway', null as unknown as RequestContext);
  fastify.addHook('onRequest', (request, reply, done) => {
    const path = request.url;
    const isMessages = path === '/v1/messages' || path.startsWith('/v1/messages?');
    const context = new RequestContext(request.id, active.runtime, Date.now(), isMessages);
    request.gateway = context;
    void reply.header('x-request-id', request.id);
    const logged = !QUIET_PATHS.test(path);
    reply.raw.once('close', () => finisher.finish(context, request, reply, logged));
    done();
  });
}
