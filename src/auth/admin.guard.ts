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
    assertAdmin(context.switchToHttp().getRequest<FastifyRequest>(), this.active.runtime.config.settings.adminKey);
    return true;
  }
}

/** Throws unless `request` comes from the admin: the admin key when one is set, else a loopback caller. */
export function assertAdmin(request: FastifyRequest, adminKey: string | undefined): void {
  assertMayReachManagement(request, adminKey);
  if (!adminKey) return;
  const key = presentedKey(request.headers) ?? basicPassword(request.headers.authorization);
  if (key && keysMatch(key, adminKey)) return;
  // A browser (the login page, the dashboard) asks for the key itself when told to use Basic authentication.
  const browser = /text\/html/i.test(request.headers.accept ?? '');
  throw new GatewayError(
    401,
    'authentication_error',
    'The admin key is required: send it as x-api-key, Authorization: Bearer, or as the password of Basic authentication.',
    browser ? { 'www-authenticate': 'Basic realm="claude-balancer admin", charset="UTF-8"' } : {},
  );
}

/**
 * What holds before any key is looked at: not sent by another site's page, and from loopback while no admin key is
 * set. The dashboard's page, which asks for the key itself, needs only this.
 */
export function assertMayReachManagement(request: FastifyRequest, adminKey: string | undefined): void {
  if (fromAnotherSite(request)) {
    // A page on another site can make the browser send simple requests here, to a gateway on loopback with no key.
    throw new GatewayError(403, 'permission_error', 'Management endpoints refuse requests sent by other sites.');
  }
  if (!adminKey && !isLoopback(request.raw.socket.remoteAddress)) {
    throw new GatewayError(
      403,
      'permission_error',
      'Management endpoints answer only loopback callers while no settings.admin_key (BALANCER_ADMIN_KEY) is set.',
    );
  }
}

/** A browser request that another site's page made: its Origin is not this host, or Fetch Metadata says so. */
function fromAnotherSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = request.headers.origin;
  if (typeof origin !== 'string' || origin === '') return false;
  try {
    return new URL(origin).host !== request.headers.host;
  } catch {
    return true;
  }
}

/** The password of `Authorization: Basic …` (any user name), which is how browsers send the admin key. */
function basicPassword(authorization: string | undefined): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization?.trim() ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? undefined : decoded.slice(colon + 1) || undefined;
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
