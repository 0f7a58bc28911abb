import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { type ValidationError, validateSync } from 'class-validator';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { type UnsetVariable, expandEnv } from './env-expansion';
import { ConfigFile, RouteCandidateFile, type SettingsFile } from './config-file.schema';
import type {
  ClientConfig,
  GatewayConfig,
  ProviderConfig,
  RouteCandidateConfig,
  RouteConfig,
  PriceOverride,
  Settings,
} from './gateway-config';

const CONFIG_SEARCH_PATHS = ['./providers.yaml', './config/providers.yaml'];

const DEFAULT_UNHEALTHY_HTTP_CODES = [402, 403, 404, 408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529];
const DEFAULT_BODY_PATTERNS = ['insufficient credits', 'quota_exceeded', '没有可用'];

/** Values that outrank the file: command-line flags, then the documented environment variables. */
export interface ConfigOverrides {
  readonly host?: string;
  readonly port?: number;
  readonly logLevel?: string;
  readonly redisUrl?: string;
  readonly adminKey?: string;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
  ) {
    super(issues.length > 0 ? `${message}\n  - ${issues.join('\n  - ')}` : message);
    this.name = 'ConfigError';
  }
}

/**
 * `--config`, then `BALANCER_CONFIG`, then the first default path that exists; undefined when none is named or found
 * (the gateway then runs on its built-in default).
 */
export function locateConfigFile(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
  cwd = process.cwd(),
): string | undefined {
  const chosen = explicit ?? env.BALANCER_CONFIG;
  if (chosen) {
    const path = resolve(cwd, chosen);
    if (!existsSync(path)) throw new ConfigError(`Config file not found: ${path}`);
    return path;
  }
  for (const candidate of CONFIG_SEARCH_PATHS) {
    const path = resolve(cwd, candidate);
    if (existsSync(path)) return path;
  }
  return undefined;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv, overrides: ConfigOverrides = {}): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${path}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split('\n')[0] : (error as Error).message;
    throw new ConfigError(`Config file ${path} is not valid YAML: ${detail}`);
  }
  return buildConfig(document, path, env, overrides);
}

export function buildConfig(
  document: unknown,
  sourcePath: string,
  env: NodeJS.ProcessEnv,
  overrides: ConfigOverrides = {},
): GatewayConfig {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(`Config file ${sourcePath} must be a YAML map with a providers list`);
  }
  const { value, unset } = expandEnv(document, env);
  const file = plainToInstance(ConfigFile, value, { enableImplicitConversion: false });
  const issues = validateSync(file, { forbidUnknownValues: false }).flatMap((error) => flattenErrors(error, ''));
  const routes = parseRoutes((value as Record<string, unknown>).model_routes, issues);
  if (issues.length === 0) issues.push(...crossCheck(file, routes));
  if (issues.length > 0) throw new ConfigError(`Invalid config ${sourcePath}:`, explainUnset(issues, unset));
  return normalise(file, routes, sourcePath, overrides);
}

function flattenErrors(error: ValidationError, parentPath: string): string[] {
  const isIndex = /^\d+$/.test(error.property);
  const path = isIndex
    ? `${parentPath}[${error.property}]`
    : parentPath
      ? `${parentPath}.${error.property}`
      : error.property;
  const own = error.constraints ? [...new Set(Object.values(error.constraints))].map((m) => `${path}: ${m}`) : [];
  return [...own, ...(error.children ?? []).flatMap((child) => flattenErrors(child, path))];
}

/** Appends "(environment variable X is not set)" to issues at paths whose value came from an unset variable. */
function explainUnset(issues: string[], unset: readonly UnsetVariable[]): string[] {
  return issues.map((issue) => {
    const hit = unset.find((u) => issue.startsWith(`${u.path}:`));
    return hit ? `${issue} (environment variable ${hit.variable} is not set)` : issue;
  });
}

interface ParsedRoute {
  readonly pattern: string;
  readonly candidates: RouteCandidateFile[];
}

function parseRoutes(raw: unknown, issues: string[]): ParsedRoute[] | undefined {
  if (raw === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  return Object.entries(raw as Record<string, unknown>).map(([pattern, list]) => {
    const path = `model_routes["${pattern}"]`;
    if (!Array.isArray(list) || list.length === 0) {
      issues.push(`${path}: must be a non-empty list of candidates`);
      return { pattern, candidates: [] };
    }
    const candidates = list.map((item) => plainToInstance(RouteCandidateFile, item as object));
    candidates.forEach((candidate, index) => {
      if (candidate === null || typeof candidate !== 'object') {
        issues.push(`${path}[${index}]: must be a map with provider, model and priority`);
        return;
      }
      for (const error of validateSync(candidate)) issues.push(...flattenErrors(error, `${path}[${index}]`));
    });
    return { pattern, candidates };
  });
}

function crossCheck(file: ConfigFile, routes: ParsedRoute[] | undefined): string[] {
  const issues: string[] = [];
  const names = new Map<string, number>();
  file.providers.forEach((provider, index) => {
    const previous = names.get(provider.name);
    if (previous !== undefined)
      issues.push(`providers[${index}].name: duplicates providers[${previous}].name "${provider.name}"`);
    names.set(provider.name, index);
    const authType = provider.auth_type ?? 'api_key';
    const needsSecret = authType === 'api_key' || authType === 'auth_token';
    if (
      needsSecret &&
      provider.auth_value !== 'passthrough' &&
      provider.auth_value !== 'oauth' &&
      !provider.auth_value
    ) {
      issues.push(`providers[${index}].auth_value: must not be empty for auth_type ${authType}`);
    }
    // The schema's patterns let through what URL parsing refuses (a port over 65535), which would fail later, mid-reload.
    if (!URL.canParse(provider.base_url)) issues.push(`providers[${index}].base_url: must be a URL`);
    if (provider.proxy && !URL.canParse(provider.proxy)) {
      issues.push(`providers[${index}].proxy: must be a proxy URL (http://, https:// or socks5://)`);
    }
  });
  for (const route of routes ?? []) {
    route.candidates.forEach((candidate, index) => {
      if (!names.has(candidate.provider)) {
        issues.push(
          `model_routes["${route.pattern}"][${index}].provider: no provider is named "${candidate.provider}"`,
        );
      }
    });
  }
  const clientNames = new Set<string>();
  const digests = new Set<string>();
  (file.clients ?? []).forEach((client, index) => {
    if (clientNames.has(client.name)) issues.push(`clients[${index}].name: duplicate client name "${client.name}"`);
    clientNames.add(client.name);
    const weak = client.key_sha256 === undefined ? weakKeyReason(client.key ?? '') : undefined;
    if (weak) issues.push(`clients[${index}].key: ${weak} (client ${client.name})`);
    const digest = clientDigest(client.key, client.key_sha256).toString('hex');
    if (digests.has(digest)) issues.push(`clients[${index}].key: the same key is given to another client`);
    digests.add(digest);
  });
  return issues;
}

const MIN_CLIENT_KEY_LENGTH = 16;
/** Keys that documentation and examples show: a gateway must never run with one of them as a teammate's key. */
const PLACEHOLDER_KEYS = /^(.*-)?(change-?me|changeme|replace-?me|your-?key(-here)?|secret|password|example-?key)$/i;

function weakKeyReason(key: string): string | undefined {
  if (key === '') return undefined;
  if (PLACEHOLDER_KEYS.test(key)) return 'is a placeholder from an example, not a key: set a long random one';
  if (key.length < MIN_CLIENT_KEY_LENGTH) {
    return `is ${key.length} characters; a client key must be at least ${MIN_CLIENT_KEY_LENGTH} (e.g. openssl rand -hex 24)`;
  }
  return undefined;
}

function clientDigest(key: string | undefined, keySha256: string | undefined): Buffer {
  if (keySha256) return Buffer.from(keySha256.toLowerCase(), 'hex');
  return createHash('sha256')
    .update(key ?? '')
    .digest();
}

/** The seed spelled `auth_value: oauth` / `auth_value: passthrough` instead of using auth_type. */
function authTypeOf(authType: string | undefined, authValue: string | undefined): ProviderConfig['authType'] {
  if (authValue === 'oauth') return 'oauth';
  if (authValue === 'passthrough') return 'passthrough';
  return (authType ?? 'api_key') as ProviderConfig['authType'];
}

function normalise(
  file: ConfigFile,
  routes: ParsedRoute[] | undefined,
  sourcePath: string,
  overrides: ConfigOverrides,
): GatewayConfig {
  const providers: ProviderConfig[] = file.providers.map((p) => {
    const authType = authTypeOf(p.auth_type, p.auth_value);
    const baseUrl = new URL(p.base_url);
    return {
      name: p.name,
      type: p.type as ProviderConfig['type'],
      baseUrl: p.base_url.replace(/\/+$/, ''),
      origin: baseUrl.origin,
      basePath: baseUrl.pathname.replace(/\/+$/, ''),
      authType,
      authValue: authType === 'api_key' || authType === 'auth_token' ? (p.auth_value ?? '') : '',
      accountEmail: p.account_email || undefined,
      enabled: p.enabled ?? true,
      proxy: p.proxy || undefined,
      headers: Object.fromEntries(Object.entries(p.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)])),
      weight: p.weight ?? 1,
      maxTokensCap: p.max_tokens_cap,
      openai: {
        maxTokensField: p.openai?.max_tokens_field ?? 'max_tokens',
        sendReasoningContent: p.openai?.send_reasoning_content ?? false,
        reasoningEffort: p.openai?.reasoning_effort ?? false,
        keepCacheControl: p.openai?.keep_cache_control ?? false,
      },
    };
  });
  const routeConfigs = routes ? routes.map(toRouteConfig) : legacyRoutes(file);
  const clients: ClientConfig[] = (file.clients ?? []).map((c) => ({
    name: c.name,
    keyDigest: clientDigest(c.key, c.key_sha256),
    models: c.models,
    rpm: c.rpm ?? 0,
    maxConcurrency: c.max_concurrency ?? 0,
    dailyTokenBudget: c.daily_token_budget ?? 0,
    oauthAccounts: c.oauth_accounts?.map((email) => email.toLowerCase()),
    dailyCostBudget: c.daily_cost_budget ?? 0,
    share: c.share,
  }));
  const settings = normaliseSettings(file.settings ?? {}, overrides);
  const secrets = [
    ...providers.map((p) => p.authValue),
    ...providers.map((p) => urlPassword(p.proxy)),
    ...providers.map((p) => urlPassword(p.baseUrl)),
    ...providers.flatMap((p) => Object.values(p.headers)),
    ...(file.clients ?? []).map((c) => c.key),
    settings.adminKey,
    settings.metricsKey,
  ].filter((s): s is string => typeof s === 'string' && s.length >= 6);
  return { sourcePath, providers, routes: routeConfigs, clients, settings, secrets: [...new Set(secrets)] };
}

function urlPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}

function toRouteConfig(route: ParsedRoute): RouteConfig {
  return {
    pattern: route.pattern,
    candidates: route.candidates.map((c, index): RouteCandidateConfig => ({
      provider: c.provider,
      model: c.model ?? 'passthrough',
      priority: c.priority ?? index + 1,
      weight: c.weight,
      enabled: c.enabled ?? true,
    })),
  };
}

/**
 * Seed configs without `model_routes` map by `big_model`/`small_model`: haiku-class requests go to each provider's
 * small model, everything else to its big model, providers tried in file order.
 */
function legacyRoutes(file: ConfigFile): RouteConfig[] {
  const candidates = (pick: (p: ConfigFile['providers'][number]) => string | undefined): RouteCandidateConfig[] =>
    file.providers.map((p, index) => ({
      provider: p.name,
      model: pick(p) ?? 'passthrough',
      priority: index + 1,
      enabled: true,
    }));
  return [
    { pattern: '*haiku*', candidates: candidates((p) => p.small_model ?? p.big_model) },
    { pattern: '*', candidates: candidates((p) => p.big_model) },
  ];
}

function compileBodyPattern(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'i');
  } catch {
    return new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  }
}

const PRICE_FIELDS = ['input', 'output', 'cache_read', 'cache_write'] as const;

/**
 * settings.usage.prices: each glob's USD per million tokens. input and output are required; a cache price left out
 * follows Anthropic's ratios to the input price (reads 0.1x, writes 1.25x).
 */
function priceOverrides(prices: Record<string, unknown>): PriceOverride[] {
  return Object.entries(prices).map(([pattern, value]) => {
    const where = `settings.usage.prices["${pattern}"]`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(
        `${where} must be a map of { input, output, cache_read, cache_write } in USD per million tokens`,
      );
    }
    const fields = value as Record<string, unknown>;
    for (const name of Object.keys(fields)) {
      if (!(PRICE_FIELDS as readonly string[]).includes(name)) {
        throw new ConfigError(`${where}.${name} is not a price: use input, output, cache_read and cache_write`);
      }
    }
    const price = (name: (typeof PRICE_FIELDS)[number], fallback?: number): number => {
      const raw = fields[name] ?? fallback;
      const number = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) {
        throw new ConfigError(`${where}.${name} must be a number of USD per million tokens (0 or more)`);
      }
      return number;
    };
    const input = price('input');
    return {
      pattern,
      input,
      output: price('output'),
      cacheRead: price('cache_read', input * 0.1),
      cacheWrite: price('cache_write', input * 1.25),
    };
  });
}

function normaliseSettings(s: SettingsFile, overrides: ConfigOverrides): Settings {
  const legacyRead = Math.max(s.timeouts?.streaming?.read ?? 0, s.timeouts?.non_streaming?.read ?? 0) || undefined;
  const legacyConnect =
    Math.max(s.timeouts?.streaming?.connect ?? 0, s.timeouts?.non_streaming?.connect ?? 0) || undefined;
  const seconds = (value: number) => Math.round(value * 1000);
  const dedup = s.deduplication ?? {};
  const logLevel = overrides.logLevel ?? s.log_level ?? 'info';
  return {
    selectionStrategy: (s.selection_strategy ?? 'priority') as Settings['selectionStrategy'],
    failureCooldownSeconds: s.failure_cooldown ?? 180,
    unhealthyThreshold: s.unhealthy_threshold ?? 2,
    unhealthyResetOnSuccess: s.unhealthy_reset_on_success ?? true,
    unhealthyResetTimeoutSeconds: s.unhealthy_reset_timeout ?? 300,
    stickyProviderSeconds: s.sticky_provider_duration ?? 300,
    unhealthyHttpCodes: new Set(s.unhealthy_http_codes ?? DEFAULT_UNHEALTHY_HTTP_CODES),
    unhealthyResponseBodyPatterns: (s.unhealthy_response_body_patterns ?? DEFAULT_BODY_PATTERNS).map(
      compileBodyPattern,
    ),
    timeouts: {
      connectMs: seconds(s.timeouts?.connect ?? legacyConnect ?? 10),
      firstByteMs: seconds(s.timeouts?.first_byte ?? s.request_timeout ?? legacyRead ?? 120),
      idleMs: seconds(s.timeouts?.idle ?? s.request_timeout ?? legacyRead ?? 300),
    },
    deduplication: {
      enabled: dedup.enabled ?? s.enable_deduplication ?? true,
      includeMaxTokensInSignature: dedup.include_max_tokens_in_signature ?? false,
      cacheTtlSeconds: dedup.cache_ttl ?? s.cache_ttl ?? 0,
      cacheSizeLimit: dedup.cache_size_limit ?? s.cache_size_limit ?? 1000,
      cacheMaxBytes: dedup.cache_max_bytes ?? 64 * 1024 * 1024,
      orphanGraceSeconds: dedup.orphan_grace ?? 5,
    },
    adminKey: overrides.adminKey ?? (s.admin_key || undefined),
    metricsKey: s.metrics_key || undefined,
    maxBodyBytes: s.max_body_bytes ?? 32 * 1024 * 1024,
    state: {
      backend: (s.state?.backend ?? 'memory') as Settings['state']['backend'],
      redisUrl: overrides.redisUrl ?? s.state?.redis_url ?? 'redis://127.0.0.1:6379',
      keyPrefix: s.state?.key_prefix ?? 'balancer:',
    },
    oauth: {
      tokenStore: s.oauth?.token_store ?? './data/oauth-tokens.json',
      enableAutoRefresh: s.oauth?.enable_auto_refresh ?? true,
      clientId: s.oauth?.client_id ?? '9d1c250a-e61b-44d9-88ed-5944d1962f5e',
      authorizeUrl: s.oauth?.authorize_url ?? 'https://claude.com/cai/oauth/authorize',
      tokenUrl: s.oauth?.token_url ?? 'https://platform.claude.com/v1/oauth/token',
      redirectUri: s.oauth?.redirect_uri ?? 'https://platform.claude.com/oauth/code/callback',
      scopes:
        s.oauth?.scopes ??
        'org:create_api_key user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload',
      profileUrl: s.oauth?.profile_url ?? 'https://api.anthropic.com/api/oauth/profile',
      refreshMarginMs: seconds(s.oauth?.refresh_margin ?? 300),
      proxy: s.oauth?.proxy || undefined,
      switchAtUtilization: s.oauth?.switch_at_utilization ?? 0.95,
      fairShareAt: s.oauth?.fair_share_at,
    },
    usage: {
      store: s.usage?.store ?? './data/usage.jsonl',
      retentionDays: s.usage?.retention_days ?? 90,
      prices: priceOverrides(s.usage?.prices ?? {}),
    },
    logLevel: logLevel === 'warning' ? 'warn' : logLevel === 'critical' ? 'fatal' : logLevel,
    logFilePath: s.log_file_path ?? '',
    logColor: s.log_color ?? true,
    host: overrides.host ?? s.host ?? '127.0.0.1',
    port: overrides.port ?? s.port ?? 9090,
    shutdownGraceSeconds: s.shutdown_grace ?? 30,
  };
}
