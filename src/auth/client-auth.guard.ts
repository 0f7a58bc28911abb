import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../common/gateway-error';
import { presentedKey } from './presented-key';

/**
 * A wrong or missing key will not fix itself: without this header Claude Code retries a 401 about ten times with
 * growing backoff (minutes of silence) before it tells the user; with it, it stops at once and shows our message.
 */
const DO_NOT_RETRY = { 'x-should-retry': 'false' };

/** With `clients` configured, every client call needs a known key; the client is attached for routing and metrics. */
@Injectable()
export class ClientAuthGuard implements CanActivate {
  canActivate(execution: ExecutionContext): boolean {
    const request = execution.switchToHttp().getRequest<FastifyRequest>();
    const context = request.gateway;
    const keys = context.runtime.clientKeys;
    if (!keys.enabled) return true;
    const key = presentedKey(request.headers);
    if (!key) {
      throw new GatewayError(
        401,
        'authentication_error',
        'A client key is required: send it as x-api-key or Authorization: Bearer.',
        DO_NOT_RETRY,
      );
    }
    const client = keys.find(key);
    if (!client) throw new GatewayError(401, 'authentication_error', 'Invalid client key.', DO_NOT_RETRY);
    context.client = client;
    context.clientKey = key;
    context.fields.client = client.name;
    return true;
  }
}
