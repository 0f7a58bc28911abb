import { withoutCredentials } from '../common/url-credentials';
import type { GatewayConfig } from './gateway-config';

/** What `check` prints: the providers, routes and clients a config would serve, without any secret. */
export function configReport(config: GatewayConfig): string {
  const lines = [`Config: ${config.sourcePath} is valid.`, '', `Providers (${config.providers.length}):`];
  for (const p of config.providers) {
    const state = p.enabled ? '' : ' (disabled)';
    lines.push(`  ${p.name}: ${p.type}, ${p.authType}, ${withoutCredentials(p.baseUrl)}${state}`);
  }
  lines.push('', `Routes (${config.routes.length}), in the order they are matched:`);
  for (const route of config.routes) {
    const candidates = route.candidates.map((c) => `${c.provider} (${c.model}, priority ${c.priority})`).join(', ');
    lines.push(`  ${route.pattern} -> ${candidates}`);
  }
  if (config.clients.length === 0) lines.push('', 'Clients: none (no client key needed)');
  else {
    lines.push('', `Clients (${config.clients.length}):`);
    for (const c of config.clients) {
      const limits = [
        c.rpm > 0 ? `rpm ${c.rpm}` : '',
        c.maxConcurrency > 0 ? `max_concurrency ${c.maxConcurrency}` : '',
        c.dailyTokenBudget > 0 ? `daily_token_budget ${c.dailyTokenBudget}` : '',
        c.dailyCostBudget > 0 ? `daily_cost_budget $${c.dailyCostBudget}` : '',
        c.models ? `models ${c.models.join(' ')}` : '',
      ].filter(Boolean);
      lines.push(`  ${c.name}${limits.length > 0 ? `: ${limits.join(', ')}` : ''}`);
    }
  }
  const { state } = config.settings;
  lines.push(
    '',
    `State: ${state.backend}${state.backend === 'redis' ? ` at ${withoutCredentials(state.redisUrl)}` : ''}`,
  );
  return `${lines.join('\n')}\n`;
}
