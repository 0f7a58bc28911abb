import 'reflect-metadata';
import { Transform, Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';

/** The YAML file as users write it (snake_case, seed-compatible). Only shape and ranges are checked here. */

const URL_PATTERN = /^https?:\/\/[^\s/]+(\/\S*)?$/i;
const PROXY_PATTERN = /^(https?|socks5?):\/\/\S+$/i;

/** YAML strings such as "true" (from `${VAR:-true}`) become booleans; anything else is left for validation. */
const ToBoolean = () =>
  Transform(({ value }: { value: unknown }) => {
    if (value === 'true') return true;
    if (value === 'false') return false;
    return value;
  });

/** Numeric strings (from `${PORT:-9090}`) become numbers; anything else is left for validation. */
const ToNumber = () =>
  Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value)) ? Number(value) : value,
  );

const positive = { message: 'must be a positive number' };
const nonNegative = { message: 'must be zero or more' };

export class OpenAiOptionsFile {
  @IsOptional()
  @IsIn(['max_tokens', 'max_completion_tokens'], { message: 'must be max_tokens or max_completion_tokens' })
  max_tokens_field?: 'max_tokens' | 'max_completion_tokens';

  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) send_reasoning_content?: boolean;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) reasoning_effort?: boolean;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) keep_cache_control?: boolean;
}

export class ProviderFile {
  @IsString({ message: 'must be a string' })
  @IsNotEmpty({ message: 'must not be empty' })
  name!: string;

  @IsIn(['anthropic', 'openai'], { message: 'must be anthropic or openai' })
  type!: string;

  @IsString({ message: 'must be a URL' })
  @Matches(URL_PATTERN, { message: 'must be a URL' })
  base_url!: string;

  @IsOptional()
  @IsIn(['api_key', 'auth_token', 'oauth', 'passthrough'], {
    message: 'must be api_key, auth_token, oauth or passthrough',
  })
  auth_type?: string;

  @IsOptional() @IsString({ message: 'must be a string' }) auth_value?: string;
  @IsOptional() @IsString({ message: 'must be a string' }) account_email?: string;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) enabled?: boolean;

  @IsOptional()
  @ValidateIf((_object, value) => value !== '')
  @Matches(PROXY_PATTERN, { message: 'must be a proxy URL (http://, https:// or socks5://)' })
  proxy?: string;

  @IsOptional() @IsObject({ message: 'must be a map of header names to values' }) headers?: Record<string, unknown>;
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0, positive) weight?: number;
  @IsOptional() @ToNumber() @IsInt({ message: 'must be a whole number' }) @Min(1, positive) max_tokens_cap?: number;
  @IsOptional() @IsString({ message: 'must be a model name or passthrough' }) big_model?: string;
  @IsOptional() @IsString({ message: 'must be a model name or passthrough' }) small_model?: string;

  @IsOptional() @ValidateNested() @Type(() => OpenAiOptionsFile) openai?: OpenAiOptionsFile;
}

export class RouteCandidateFile {
  @IsString({ message: 'must name a provider' })
  @IsNotEmpty({ message: 'must name a provider' })
  provider!: string;

  @IsOptional() @IsString({ message: 'must be a model name or passthrough' }) model?: string;
  @IsOptional() @ToNumber() @IsNumber({}, { message: 'must be a number' }) priority?: number;
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0, positive) weight?: number;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) enabled?: boolean;
  @IsOptional() @IsString({ message: 'must be a string' }) account_email?: string;
}

export class ClientFile {
  @IsString({ message: 'must be a string' })
  @IsNotEmpty({ message: 'must not be empty' })
  name!: string;

  @ValidateIf((client: ClientFile) => client.key_sha256 === undefined)
  @IsString({ message: 'must be a string (or give key_sha256)' })
  @IsNotEmpty({ message: 'must not be empty (or give key_sha256)' })
  key?: string;

  @IsOptional()
  @Matches(/^[0-9a-f]{64}$/i, { message: 'must be 64 hex characters (sha256 of the key)' })
  key_sha256?: string;

  @IsOptional()
  @IsArray({ message: 'must be a list of model globs' })
  @IsString({ each: true, message: 'must be a list of model globs' })
  models?: string[];

  @IsOptional() @ToNumber() @IsInt({ message: 'must be a whole number' }) @Min(0, nonNegative) rpm?: number;
  @IsOptional() @ToNumber() @IsInt({ message: 'must be a whole number' }) @Min(0, nonNegative) max_concurrency?: number;
  @IsOptional()
  @ToNumber()
  @IsInt({ message: 'must be a whole number' })
  @Min(0, nonNegative)
  daily_token_budget?: number;

  @IsOptional() @ToNumber() @IsNumber({}, nonNegative) @Min(0, nonNegative) daily_cost_budget?: number;
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0.001, positive) share?: number;

  @IsOptional()
  @IsArray({ message: 'must be a list of account emails' })
  @IsString({ each: true, message: 'must be a list of account emails' })
  oauth_accounts?: string[];
}

export class LegacyTimeoutFile {
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0.001, positive) connect?: number;
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0.001, positive) read?: number;
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0.001, positive) pool?: number;
}

export class TimeoutsFile {
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0.001, positive) connect?: number;
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0.001, positive) first_byte?: number;
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0.001, positive) idle?: number;
  @IsOptional() @ValidateNested() @Type(() => LegacyTimeoutFile) streaming?: LegacyTimeoutFile;
  @IsOptional() @ValidateNested() @Type(() => LegacyTimeoutFile) non_streaming?: LegacyTimeoutFile;
}

export class DeduplicationFile {
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) enabled?: boolean;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) include_max_tokens_in_signature?: boolean;
  @IsOptional() @ToNumber() @IsNumber({}, nonNegative) @Min(0, nonNegative) cache_ttl?: number;
  @IsOptional()
  @ToNumber()
  @IsInt({ message: 'must be a whole number' })
  @Min(0, nonNegative)
  cache_size_limit?: number;
  @IsOptional() @ToNumber() @IsInt({ message: 'must be a whole number' }) @Min(0, nonNegative) cache_max_bytes?: number;
  @IsOptional() @ToNumber() @IsNumber({}, nonNegative) @Min(0, nonNegative) orphan_grace?: number;
}

export class StateFile {
  @IsOptional() @IsIn(['memory', 'redis'], { message: 'must be memory or redis' }) backend?: string;
  @IsOptional() @Matches(/^rediss?:\/\/\S+$/i, { message: 'must be a redis:// URL' }) redis_url?: string;
  @IsOptional() @IsString({ message: 'must be a string' }) key_prefix?: string;
}

export class UsageFile {
  @IsOptional() @IsString({ message: 'must be a path, or "" to keep usage in memory only' }) store?: string;
  @IsOptional()
  @ToNumber()
  @IsInt({ message: 'must be a whole number of days' })
  @Min(1, { message: 'must be at least 1 day' })
  retention_days?: number;
  @IsOptional()
  @IsObject({ message: 'must be a map of model glob to { input, output, cache_read, cache_write } (USD per million)' })
  prices?: Record<string, unknown>;
}

export class OAuthFile {
  @IsOptional() @IsString({ message: 'must be a path' }) token_store?: string;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) enable_auto_refresh?: boolean;
  @IsOptional() @IsString({ message: 'must be a string' }) client_id?: string;
  @IsOptional() @Matches(URL_PATTERN, { message: 'must be a URL' }) authorize_url?: string;
  @IsOptional() @Matches(URL_PATTERN, { message: 'must be a URL' }) token_url?: string;
  @IsOptional() @Matches(URL_PATTERN, { message: 'must be a URL' }) redirect_uri?: string;
  @IsOptional() @IsString({ message: 'must be a space-separated string' }) scopes?: string;
  @IsOptional() @Matches(URL_PATTERN, { message: 'must be a URL' }) profile_url?: string;
  @IsOptional() @ToNumber() @IsNumber({}, nonNegative) @Min(0, nonNegative) refresh_margin?: number;
  @IsOptional() @IsString({ message: 'must be a proxy URL' }) proxy?: string;
  @IsOptional()
  @ToNumber()
  @IsNumber({}, { message: 'must be a number between 0 and 1' })
  @Min(0, { message: 'must be a number between 0 and 1' })
  @Max(1, { message: 'must be a number between 0 and 1' })
  switch_at_utilization?: number;
  @IsOptional()
  @ToNumber()
  @IsNumber({}, { message: 'must be a number between 0 and 1' })
  @Min(0, { message: 'must be a number between 0 and 1' })
  @Max(1, { message: 'must be a number between 0 and 1' })
  fair_share_at?: number;
}

export class SettingsFile {
  @IsOptional()
  @IsIn(['priority', 'round_robin', 'random', 'weighted'], {
    message: 'must be priority, round_robin, random or weighted',
  })
  selection_strategy?: string;

  @IsOptional() @ToNumber() @IsNumber({}, nonNegative) @Min(0, nonNegative) failure_cooldown?: number;
  @IsOptional()
  @ToNumber()
  @IsInt({ message: 'must be a whole number' })
  @Min(1, positive)
  unhealthy_threshold?: number;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) unhealthy_reset_on_success?: boolean;
  @IsOptional() @ToNumber() @IsNumber({}, { message: 'must be a number' }) unhealthy_reset_timeout?: number;
  @IsOptional() @ToNumber() @IsNumber({}, nonNegative) @Min(0, nonNegative) sticky_provider_duration?: number;

  @IsOptional()
  @IsArray({ message: 'must be a list of HTTP status codes' })
  @IsInt({ each: true, message: 'must be a list of HTTP status codes' })
  @Min(100, { each: true, message: 'must be a list of HTTP status codes' })
  @Max(599, { each: true, message: 'must be a list of HTTP status codes' })
  unhealthy_http_codes?: number[];

  @IsOptional()
  @IsArray({ message: 'must be a list of patterns' })
  @IsString({ each: true, message: 'must be a list of patterns' })
  unhealthy_response_body_patterns?: string[];

  @IsOptional() @ValidateNested() @Type(() => TimeoutsFile) timeouts?: TimeoutsFile;
  @IsOptional() @ToNumber() @IsNumber({}, positive) @Min(0.001, positive) request_timeout?: number;

  @IsOptional() @ValidateNested() @Type(() => DeduplicationFile) deduplication?: DeduplicationFile;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) enable_deduplication?: boolean;
  @IsOptional() @ToNumber() @IsNumber({}, nonNegative) @Min(0, nonNegative) cache_ttl?: number;
  @IsOptional()
  @ToNumber()
  @IsInt({ message: 'must be a whole number' })
  @Min(0, nonNegative)
  cache_size_limit?: number;

  @IsOptional() @IsString({ message: 'must be a string' }) admin_key?: string;
  @IsOptional() @IsString({ message: 'must be a string' }) metrics_key?: string;
  @IsOptional()
  @ToNumber()
  @IsInt({ message: 'must be a whole number' })
  @Min(1024, { message: 'must be at least 1024' })
  max_body_bytes?: number;

  @IsOptional() @ValidateNested() @Type(() => StateFile) state?: StateFile;
  @IsOptional() @ValidateNested() @Type(() => OAuthFile) oauth?: OAuthFile;
  @IsOptional() @ValidateNested() @Type(() => UsageFile) usage?: UsageFile;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'warning', 'info', 'debug', 'trace', 'silent', 'critical'], {
    message: 'must be one of fatal, error, warn, info, debug, trace, silent',
  })
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value))
  log_level?: string;

  @IsOptional() @IsString({ message: 'must be a path, or "" for console only' }) log_file_path?: string;
  @IsOptional() @ToBoolean() @IsBoolean({ message: 'must be true or false' }) log_color?: boolean;
  @IsOptional() @IsString({ message: 'must be a host name or address' }) host?: string;
  @IsOptional()
  @ToNumber()
  @IsInt({ message: 'must be a port number' })
  @Min(0, { message: 'must be a port number' })
  @Max(65535, { message: 'must be a port number' })
  port?: number;
  @IsOptional() @ToNumber() @IsNumber({}, nonNegative) @Min(0, nonNegative) shutdown_grace?: number;
}

export class ConfigFile {
  @IsArray({ message: 'must be a list of providers' })
  @ArrayNotEmpty({ message: 'must list at least one provider' })
  @ValidateNested({ each: true })
  @Type(() => ProviderFile)
  providers!: ProviderFile[];

  /** pattern -> candidates; nested validation is done by hand because class-validator cannot walk map values. */
  @IsOptional()
  @IsObject({ message: 'must be a map of model pattern to a list of candidates' })
  model_routes?: Record<string, unknown>;

  @IsOptional()
  @IsArray({ message: 'must be a list of clients' })
  @ValidateNested({ each: true })
  @Type(() => ClientFile)
  clients?: ClientFile[];

  @IsOptional() @ValidateNested() @Type(() => SettingsFile) settings?: SettingsFile;
}
