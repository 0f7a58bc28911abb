import type { IncomingHttpHeaders } from 'node:http';
import { networkOutcomeFor } from '../common/error-table';
import type { Settings } from '../config/gateway-config';

/** Why one upstream attempt failed; `outcome` is the metric label, `message` what a person reads. */
export interface AttemptFailure {
  readonly outcome: string;
  readonly message: string;
  readonly retryAfterMs?: number;
  /** False when the provider is not at fault (no credential to pass through, the client went away). */
  readonly countsAgainstHealth: boolean;
  /** HTTP status that best describes the failure, for errors after a stream started. */
  readonly status: number;
  /** The Anthropic error type the upstream itself named (an SSE `error` event), when it named one. */
  readonly errorType?: string;
}

const FAILOVER_STATUSES = new Set([401, 402, 403, 404, 408, 409, 429, 529]);

export type StatusVerdict = 'success' | 'client_fault' | 'failover';

export function judgeStatus(status: number, settings: Pick<Settings, 'unhealthyHttpCodes'>): StatusVerdict {
  if (status >= 200 && status < 300) return 'success';
  // A redirect or an informational answer is never a message: the provider is misconfigured or behind a login page.
  if (status < 400) return 'failover';
  if (settings.unhealthyHttpCodes.has(status) || FAILOVER_STATUSES.has(status) || status >= 500) return 'failover';
  // 400, 413, 422 and any other 4xx: the client's own fault, returned as it is, no failover, no health penalty.
  return 'client_fault';
}

export function matchesBodyPattern(text: string, patterns: readonly RegExp[]): RegExp | undefined {
  return patterns.find((pattern) => pattern.test(text));
}

/** Reads `{type:"error", error:{type, message}}` (Anthropic) or `{error:{message}}` / `{error:"..."}` (others). */
export function describeErrorBody(text: string): { type?: string; message?: string } {
  try {
    const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
    const error = parsed.error;
    if (typeof error === 'string') return { message: error };
    if (error !== null && typeof error === 'object') {
      const { type, message } = error as { type?: unknown; message?: unknown };
      return {
        type: typeof type === 'string' ? type : undefined,
        message: typeof message === 'string' ? message : undefined,
      };
    }
    if (typeof parsed.message === 'string') return { message: parsed.message };
  } catch {
    // not JSON: fall through to the raw text
  }
  const trimmed = text.trim().slice(0, 200);
  return trimmed ? { message: trimmed } : {};
}

export function httpFailure(
  status: number,
  bodyText: string,
  headers: IncomingHttpHeaders,
  now = Date.now(),
): AttemptFailure {
  const { type, message } = describeErrorBody(bodyText);
  const detail = [type, message].filter(Boolean).join(': ');
  return {
    outcome: `http_${status}`,
    message: detail ? `HTTP ${status} ${detail}` : `HTTP ${status}`,
    retryAfterMs: status === 429 || status === 529 || status === 503 ? retryAfterMs(headers, now) : undefined,
    countsAgainstHealth: true,
    status,
  };
}

export function networkFailure(error: unknown): AttemptFailure {
  const code = errorCode(error);
  const known = networkOutcomeFor(code);
  if (known) {
    return {
      outcome: known.outcome,
      message: `${known.text} (${code})`,
      countsAgainstHealth: true,
      status: known.status,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    outcome: 'network_error',
    message: code ? `${message} (${code})` : message,
    countsAgainstHealth: true,
    status: 502,
  };
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isAbortError(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'UND_ERR_ABORTED' || code === 'UND_ERR_ABORT' || (error as Error | undefined)?.name === 'AbortError';
}

/**
 * How long the upstream asked us to stay away: `retry-after-ms`, `retry-after` (seconds or an HTTP date),
 * the subscription `anthropic-ratelimit-unified-reset` (epoch seconds), or the earliest exhausted
 * `anthropic-ratelimit-*-reset` (RFC 3339).
 */
export function retryAfterMs(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const ms = Number(header('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const retryAfter = header('retry-after');
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date) && date > now) return date - now;
  }
  const unified = Number(header('anthropic-ratelimit-unified-reset'));
  if (Number.isFinite(unified) && unified * 1000 > now) return unified * 1000 - now;
  const resets = ['requests', 'tokens', 'input-tokens', 'output-tokens']
    .filter((kind) => header(`anthropic-ratelimit-${kind}-remaining`) === '0')
    .map((kind) => Date.parse(header(`anthropic-ratelimit-${kind}-reset`) ?? ''))
    .filter((at) => Number.isFinite(at) && at > now);
  return resets.length > 0 ? Math.min(...resets) - now : undefined;
}
