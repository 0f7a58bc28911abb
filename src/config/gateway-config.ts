/** The validated, normalised configuration the gateway runs on. Built once per load or reload, then immutable. */

export type ProviderType = 'anthropic' | 'openai';
export type AuthType = 'api_key' | 'auth_token' | 'oauth' | 'passthrough';
export type SelectionStrategy = 'priority' | 'round_robin' | 'random' | 'weighted';
export type StateBackend = 'memory' | 'redis';

export interface OpenAiProviderOptions {
  /** Send `max_completion_tokens` instead of `max_tokens` (OpenAI reasoning models). */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Echo thinking back to the upstream as `reasoning_content` on assistant turns. */
  sendReasoningContent: boolean;
  /** Translate Anthropic `thinking`/`output_config.effort` into `reasoning_effort`. */
  reasoningEffort: boolean;
  /** Keep `cache_control` markers (for OpenAI-compatible routers in front of Claude). */
  keepCacheControl: boolean;
}

export interface ProviderConfig {
  readonly name: string;
  readonly type: ProviderType;
  readonly baseUrl: string;
  /** `scheme://host:port` of baseUrl, what undici dials. */
  readonly origin: string;
  /** The path prefix of baseUrl without a trailing slash ("" for none), e.g. `/claudecode` or `/api/v1`. */
  readonly basePath: string;
  readonly authType: AuthType;
  readonly authValue: string;
  readonly accountEmail?: string;
  readonly enabled: boolean;
  readonly proxy?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly weight: number;
  readonly maxTokensCap?: number;
  readonly openai: OpenAiProviderOptions;
}

export interface RouteCandidateConfig {
  readonly provider: string;
  /** `passthrough` keeps the client's model name. */
  readonly model: string;
  readonly priority: number;
  readonly weight?: number;
  readonly enabled: boolean;
}

export interface RouteConfig {
  readonly pattern: string;
  readonly candidates: readonly RouteCandidateConfig[];
}

export interface ClientConfig {
  readonly name: string;
  /** sha256 of the client key; keys are only ever compared as digests. */
  readonly keyDigest: Buffer;
  readonly models?: readonly string[];
  readonly rpm: number;
  readonly maxConcurrency: number;
  readonly dailyTokenBudget: number;
  /** The stored Claude accounts this client may use; undefined: any. Emails, lower-cased. */
  readonly oauthAccounts?: readonly string[];
  readonly dailyCostBudget: number;
  readonly share?: number;
}

export interface TimeoutSettings {
  readonly connectMs: number;
  readonly firstByteMs: number;
  readonly idleMs: number;
}

export interface DedupSettings {
  readonly enabled: boolean;
  readonly includeMaxTokensInSignature: boolean;
  readonly cacheTtlSeconds: number;
  readonly cacheSizeLimit: number;
  readonly cacheMaxBytes: number;
  readonly orphanGraceSeconds: number;
}

export interface OAuthSettings {
  readonly tokenStore: string;
  readonly enableAutoRefresh: boolean;
  readonly clientId: string;
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly redirectUri: string;
  readonly scopes: string;
  readonly profileUrl: string;
  /** A token is refreshed this long before it expires, in the background and before use. */
  readonly refreshMarginMs: number;
  readonly proxy?: string;
  /** A session moves off an account whose 5h or 7d window is this full, at its next turn. */
  readonly switchAtUtilization: number;
  readonly fairShareAt?: number;
}

export interface Settings {
  readonly selectionStrategy: SelectionStrategy;
  readonly failureCooldownSeconds: number;
  readonly unhealthyThreshold: number;
  readonly unhealthyResetOnSuccess: boolean;
  readonly unhealthyResetTimeoutSeconds: number;
  readonly stickyProviderSeconds: number;
  readonly unhealthyHttpCodes: ReadonlySet<number>;
  readonly unhealthyResponseBodyPatterns: readonly RegExp[];
  readonly timeouts: TimeoutSettings;
  readonly deduplication: DedupSettings;
  readonly adminKey?: string;
  readonly metricsKey?: string;
  readonly maxBodyBytes: number;
  readonly state: { readonly backend: StateBackend; readonly redisUrl: string; readonly keyPrefix: string };
  readonly oauth: OAuthSettings;
  readonly usage: UsageSettings;
  readonly logLevel: string;
  readonly logFilePath: string;
  readonly logColor: boolean;
  readonly host: string;
  readonly port: number;
  readonly shutdownGraceSeconds: number;
}

/** USD per million tokens of each kind, for models the catalogue does not price (or prices differently). */
export interface PriceOverride {
  readonly pattern: string;
  readonly input: number;
  readonly output: number;
  readonly cacheRead: number;
  readonly cacheWrite: number;
}

export interface UsageSettings {
  /** Where the memory backend keeps usage across restarts; "" keeps it in memory only. */
  readonly store: string;
  readonly retentionDays: number;
  readonly prices: readonly PriceOverride[];
}

export interface GatewayConfig {
  readonly sourcePath: string;
  readonly providers: readonly ProviderConfig[];
  readonly routes: readonly RouteConfig[];
  readonly clients: readonly ClientConfig[];
  readonly settings: Settings;
  /** Every secret in the file, so that error messages and logs can be scrubbed of them. */
  readonly secrets: readonly string[];
}
