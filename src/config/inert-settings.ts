import type { GatewayConfig } from './gateway-config';

/**
 * Settings this version accepts (so a contract-shaped file loads) but does not act on yet. They are named at startup
 * and on reload, so an operator never believes a spending cap or a shared backend is in force when it is not.
 */
export function inertSettings(config: GatewayConfig): string[] {
  const warnings: string[] = [];
  const shared = config.clients.filter((c) => c.share !== undefined);
  if (shared.length > 0 || config.settings.oauth.fairShareAt !== undefined) {
    warnings.push(
      "clients[].share and settings.oauth.fair_share_at (fair shares of an account's windows) are not acted on by this version",
    );
  }
  return warnings;
}

/** Settings read only at startup: a reload that changes them says so, instead of seeming to apply them. */
export function startupOnlyChanges(previous: GatewayConfig, next: GatewayConfig): string[] {
  const read: [string, (config: GatewayConfig) => unknown][] = [
    ['settings.host', (c) => c.settings.host],
    ['settings.port', (c) => c.settings.port],
    ['settings.oauth.token_store', (c) => c.settings.oauth.tokenStore],
    ['settings.state.backend', (c) => c.settings.state.backend],
    ['settings.state.redis_url', (c) => c.settings.state.redisUrl],
    ['settings.state.key_prefix', (c) => c.settings.state.keyPrefix],
  ];
  return read
    .filter(([, value]) => value(previous) !== value(next))
    .map(([name]) => `${name} changed: it takes effect at the next start, not on reload`);
}
