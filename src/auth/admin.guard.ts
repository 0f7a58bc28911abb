import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../common/gateway-error';
import { ActiveConfig } from '../config/active-config';
import { keysMatch } from './client-key-ring';
import { isLoopback, presentedKey } from './presented-key';

/** Management endpoints: the admin key when one is set, else loopback callers only. */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(private readonly active: ActiveConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const adminKey = this.active.runtime.config.settings.adminKey;
    if (!adminKey) {
      if (isLoopback(request.raw.socket.remoteAddress)) return true;
      throw new GatewayError(
        403,
        'permission_error',
        'Management endpoints answer only loopback callers while no settings.admin_key (BALANCER_ADMIN_KEY) is set.',
      );
    }
    const key = presentedKey(request.headers);
    if (key && keysMatch(key, adminKey)) return true;
    throw new GatewayError(
      401,
      'authentication_error',
      'The admin key is required: send it as x-api-key or Authorization: Bearer.',
    );
  }
}

/** /metrics: open unless settings.metrics_key is set. */
@Injectable()
export class MetricsKeyGuard implements CanActivate {
  constructor(private readonly active: ActiveConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const metricsKey = this.active.runtime.config.settings.metricsKey;
    if (!metricsKey) return true;
    const key = presentedKey(context.switchToHttp().getRequest<FastifyRequest>().headers);
    if (key && keysMatch(key, metricsKey)) return true;
    throw new GatewayError(401, 'authentication_error', 'The metrics key is required.');
  }
}
