import type { IncomingHttpHeaders } from 'node:http';
import type { ProviderConfig } from '../config/gateway-config';

const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/**
 * Client headers that travel upstream. Relays that only serve Claude Code look at the user agent and x-app; the
 * session header lets an upstream keep a conversation together. Credentials are never in this list.
 */
const FORWARDED_CLIENT_HEADERS = [
  'user-agent',
  'x-app',
  'x-claude-code-session-id',
  'x-claude-code-agent-id',
  'anthropic-dangerous-direct-browser-access',
];

export interface Credential {
  readonly header: 'x-api-key' | 'authorization';
  readonly value: string;
  /** Flags merged into the client's anthropic-beta list (a subscription account needs the OAuth one). */
  readonly betas?: readonly string[];
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The headers of a request to an Anthropic-compatible upstream: the provider's credential only, never the client's key. */
export function anthropicUpstreamHeaders(
  provider: ProviderConfig,
  client: IncomingHttpHeaders,
  credential: Credential,
  stream: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: stream ? 'text/event-stream' : 'application/json',
    'accept-encoding': 'identity',
    'anthropic-version': single(client['anthropic-version']) ?? DEFAULT_ANTHROPIC_VERSION,
  };
  const beta = mergeBetas(single(client['anthropic-beta']), credential.betas);
  if (beta) headers['anthropic-beta'] = beta;
  for (const name of FORWARDED_CLIENT_HEADERS) {
    const value = single(client[name]);
    if (value !== undefined) headers[name] = value;
  }
  Object.assign(headers, provider.headers);
  delete headers['x-api-key'];
  delete headers.authorization;
  headers[credential.header] = credential.value;
  return headers;
}

/** The client's comma-separated beta flags with `extra` added where missing, the client's own order kept. */
export function mergeBetas(client: string | undefined, extra: readonly string[] = []): string | undefined {
  if (extra.length === 0) return client;
  const flags = (client ?? '')
    .split(',')
    .map((flag) => flag.trim())
    .filter(Boolean);
  for (const flag of extra) if (!flags.includes(flag)) flags.push(flag);
  return flags.length > 0 ? flags.join(',') : undefined;
}

/** The credential for a provider; for passthrough, the client's own credential unless it was the gateway client key. */
export function credentialFor(
  provider: ProviderConfig,
  client: IncomingHttpHeaders,
  gatewayKeyUsed: string | undefined,
): Credential | undefined {
  switch (provider.authType) {
    case 'api_key':
      return { header: 'x-api-key', value: provider.authValue };
    case 'auth_token':
      return { header: 'authorization', value: `Bearer ${provider.authValue}` };
    case 'passthrough': {
      const apiKey = single(client['x-api-key']);
      if (apiKey && apiKey !== gatewayKeyUsed) return { header: 'x-api-key', value: apiKey };
      const authorization = single(client.authorization);
      const bearer = authorization?.replace(/^Bearer\s+/i, '');
      if (authorization && bearer !== gatewayKeyUsed) return { header: 'authorization', value: authorization };
      return undefined;
    }
    case 'oauth':
      return undefined;
  }
}
