import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../common/gateway-error';
import type { LifecycleState } from '../health/lifecycle.state';
import type { ConnectionGuard } from './connection-guard';

const PROBE_PATHS = /^\/health(\/|\?|$)/;

/**
 * Refuses, before any work is done for them, requests on a connection past its address's cap and new requests while
 * the process drains for shutdown (probes still answer, so a load balancer sees the drain). Both answers close the
 * connection, so the client opens a fresh one, on another replica when there is one.
 */
export function registerAdmission(fastify: FastifyInstance, guard: ConnectionGuard, lifecycle: LifecycleState): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    const socket = request.raw.socket;
    if (guard.refuses(socket)) {
      done(
        new GatewayError(
          429,
          'rate_limit_error',
          `Too many connections from this address: at most ${guard.limit} open connections per client address.`,
          { 'retry-after': '1', 'x-should-retry': 'true', connection: 'close' },
        ),
      );
      return;
    }
    if (lifecycle.draining && !PROBE_PATHS.test(request.url)) {
      done(
        new GatewayError(503, 'overloaded_error', 'The gateway is shutting down; retry the request.', {
          connection: 'close',
        }),
      );
      return;
    }
    done();
  });
}
