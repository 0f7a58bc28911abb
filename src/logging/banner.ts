import { withoutCredentials } from '../common/url-credentials';
import type { GatewayConfig } from '../config/gateway-config';
import type { HealthStore } from '../state/health.store';
import { VERSION } from '../version';
import { BUILT_IN_DEFAULT_NAME, WRITE_A_CONFIG_HINT } from '../config/built-in-default';

/** The startup summary, like the seed's panel: version, providers with health, where it listens, which config. */
export function startupBanner(
  config: GatewayConfig,
  health: HealthStore,
  address: string,
  stateBackendUp?: boolean,
): string {
  const providers = config.providers.map((p) => {
    const mark = !p.enabled ? '-' : health.isUsable(p.name) ? '✓' : '✗';
    const state = p.enabled ? '' : ' (disabled)';
    return `    [${mark}] ${p.name} (${p.type}, ${p.authType}): ${withoutCredentials(p.baseUrl)}${state}`;
  });
  const usable = config.providers.filter((p) => p.enabled && health.isUsable(p.name)).length;
  const lines = [
    `Claude Code Provider Balancer v${VERSION}`,
    `  Providers     : ${usable}/${config.providers.length} usable`,
    ...providers,
    `  Routes        : ${config.routes.map((r) => r.pattern).join(', ')}`,
    `  Strategy      : ${config.settings.selectionStrategy}`,
    `  Clients       : ${clientsLine(config.clients.length)}`,
    `  State         : ${stateLine(config, stateBackendUp)}`,
    `  Log level     : ${config.settings.logLevel}${config.settings.logFilePath ? `, file ${config.settings.logFilePath}` : ''}`,
    `  Config        : ${config.sourcePath}`,
    `  Listening on  : ${address}`,
    `  Dashboard     : ${address}/dashboard (${config.settings.adminKey ? 'asks for the admin key' : 'loopback only, no admin key set'})`,
  ];
  if (config.sourcePath === BUILT_IN_DEFAULT_NAME) lines.push('', ...wrap(WRITE_A_CONFIG_HINT, 72));
  const width = Math.max(...lines.map((l) => l.length)) + 2;
  const rule = '─'.repeat(width);
  return [`╭${rule}╮`, ...lines.map((l) => `│ ${l.padEnd(width - 1)}│`), `╰${rule}╯`, ''].join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function stateLine(config: GatewayConfig, up: boolean | undefined): string {
  const { state } = config.settings;
  if (state.backend !== 'redis') return 'memory (this process only)';
  const status = up ? 'shared with the other replicas' : 'not answering yet, serving on this replica’s own state';
  return `redis ${withoutCredentials(state.redisUrl)} (keys under ${state.keyPrefix}), ${status}`;
}

function clientsLine(count: number): string {
  if (count === 0) return 'none (no client key needed)';
  return `${count} ${count === 1 ? 'client' : 'clients'}, a client key is required`;
}
