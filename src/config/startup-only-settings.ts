import type { GatewayConfig } from './gateway-config';

/** Settings read only at startup: a reload that changes them says so, instead of seeming to apply them. */
export function startupOnlyChanges(previous: GatewayConfig, next: GatewayConfig): string[] {
  const read: [string, (config: GatewayConfig) => unknown][] = [
    ['settings.host', (c) => c.settings.host],
    ['settings.port', (c) => c.settings.port],
    ['settings.oauth.token_store', (c) => c.settings.oauth.tokenStore],
    ['settings.state.backend', (c) => c.settings.state.backend],
    ['settings.state.redis_url', (c) => c.settings.state.redisUrl],
    ['settings.state.key_prefix', (c) => c.settings.state.keyPrefix],
    ['settings.usage.store', (c) => c.settings.usage.store],
  ];
  return read
    .filter(([, value]) => value(previous) !== value(next))
    .map(([name]) => `${name} changed: it takes effect at the next start, not on reload`);
}
