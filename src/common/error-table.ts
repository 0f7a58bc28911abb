/**
 * The one table of how failures read to a client: HTTP statuses, Anthropic error types, upstream network outcomes
 * and stream errors. Everything that turns a failure into a status or an error type asks here.
 */

export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error';

const TYPE_BY_STATUS: Readonly<Record<number, AnthropicErrorType>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const STATUS_BY_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** The error type Anthropic gives a status; unknown 5xx are api errors, unknown 4xx the client's. */
export function errorTypeForStatus(status: number): AnthropicErrorType {
  return TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** The status an error type stands for, e.g. for an SSE `error` event that carries only the type. */
export function statusForErrorType(type: string): number {
  return STATUS_BY_TYPE[type] ?? 500;
}

/**
 * An OpenAI-compatible upstream's error status as Anthropic would have answered it: a proxy's 502/503 in front of a
 * busy model is what Anthropic calls overloaded (529), which Claude Code retries with backoff.
 */
export function anthropicErrorForUpstreamStatus(status: number): { status: number; type: AnthropicErrorType } {
  if (status === 502 || status === 503 || status === 529) return { status: 529, type: 'overloaded_error' };
  if (status >= 400 && status < 600) return { status, type: errorTypeForStatus(status) };
  return { status: 500, type: 'api_error' };
}

/** A failure after a stream has started can only be an SSE `error` event: overloaded when the status says so. */
export function streamErrorTypeForStatus(status: number | undefined): AnthropicErrorType {
  return status === 503 || status === 529 ? 'overloaded_error' : 'api_error';
}

/**
 * A non-streaming client whose answer came from a stream that broke gets the stream's error as an HTTP error:
 * overloaded stays 529 (retried by clients), anything else is a bad gateway answer.
 */
export function statusForBrokenStream(type: string): number {
  return type === 'overloaded_error' ? 529 : 502;
}

export interface NetworkOutcome {
  /** The `outcome` label of balancer_upstream_attempts_total. */
  readonly outcome: string;
  readonly text: string;
  readonly status: number;
}

const NETWORK_OUTCOMES: Readonly<Record<string, NetworkOutcome>> = {
  UND_ERR_CONNECT_TIMEOUT: { outcome: 'connect_timeout', text: 'timed out connecting', status: 504 },
  UND_ERR_HEADERS_TIMEOUT: { outcome: 'first_byte_timeout', text: 'timed out waiting for the response', status: 504 },
  UND_ERR_BODY_TIMEOUT: { outcome: 'idle_timeout', text: 'the response went silent for too long', status: 504 },
  UND_ERR_SOCKET: { outcome: 'connection_reset', text: 'the connection was closed by the upstream', status: 502 },
  ECONNRESET: { outcome: 'connection_reset', text: 'the connection was reset', status: 502 },
  EPIPE: { outcome: 'connection_reset', text: 'the connection was reset', status: 502 },
  ECONNREFUSED: { outcome: 'connect_error', text: 'connection refused', status: 502 },
  ENOTFOUND: { outcome: 'connect_error', text: 'host not found', status: 502 },
  EAI_AGAIN: { outcome: 'connect_error', text: 'host lookup failed', status: 502 },
  EHOSTUNREACH: { outcome: 'connect_error', text: 'host unreachable', status: 502 },
  ENETUNREACH: { outcome: 'connect_error', text: 'network unreachable', status: 502 },
  ETIMEDOUT: { outcome: 'connect_timeout', text: 'timed out connecting', status: 504 },
  UND_ERR_PRX_TLS: { outcome: 'proxy_error', text: 'TLS to the proxy failed', status: 502 },
  UND_ERR_SOCKS5: { outcome: 'proxy_error', text: 'the SOCKS proxy failed', status: 502 },
};

/** What an undici or socket error code means for an upstream attempt; undefined for codes not in the table. */
export function networkOutcomeFor(code: string | undefined): NetworkOutcome | undefined {
  return code === undefined ? undefined : NETWORK_OUTCOMES[code];
}
