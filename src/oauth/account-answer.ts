import type { IncomingHttpHeaders } from 'node:http';
import { describeErrorBody, retryAfterMs } from '../providers/upstream-failure';

export interface UsageWindow {
  /** 0..1 (may pass 1 once exhausted). */
  readonly utilization: number;
  /** Epoch milliseconds, when known. */
  readonly resetsAt: number | null;
  readonly status: string | null;
}

export interface UnifiedLimits {
  readonly status: string | null;
  readonly windows: { readonly '5h'?: UsageWindow; readonly '7d'?: UsageWindow };
  /** Windows that said `rejected`, by their header name (`5h`, `7d`, `7d_oi`, ...). */
  readonly rejected: readonly string[];
  readonly resetsAt: number | null;
  readonly representativeClaim: string | null;
}

/** What an answer means for the account that gave it, before the provider's own rules judge it. */
export type AccountAnswer =
  | { readonly kind: 'provider' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'invalid_token'; readonly reason: string }
  | { readonly kind: 'revoked'; readonly reason: string }
  | { readonly kind: 'blocked'; readonly reason: string }
  | { readonly kind: 'park'; readonly until: number; readonly reason: string; readonly familyOnly: boolean }
  | { readonly kind: 'throttle'; readonly until: number; readonly reason: string }
  | { readonly kind: 'extra_usage'; readonly reason: string }
  | { readonly kind: 'not_claude_code'; readonly reason: string };

const PREFIX = 'anthropic-ratelimit-unified-';
const THROTTLE_MS = 30_000;
const UNKNOWN_RESET_PARK_MS = 5 * 60_000;
const SCOPED_CLAIM = /^seven_day_(.+)$/;

/** The account's 5h and 7d windows, its overall status and the rejected windows, from one answer's headers. */
export function readUnifiedLimits(headers: IncomingHttpHeaders): UnifiedLimits | undefined {
  const get = (name: string) => {
    const value = headers[`${PREFIX}${name}`];
    return Array.isArray(value) ? value[0] : value;
  };
  const names = Object.keys(headers).filter((name) => name.startsWith(PREFIX));
  if (names.length === 0) return undefined;
  const window = (id: string): UsageWindow | undefined => {
    const utilization = Number(get(`${id}-utilization`));
    const reset = Number(get(`${id}-reset`));
    const status = get(`${id}-status`) ?? null;
    if (!Number.isFinite(utilization) && status === null) return undefined;
    return {
      utilization: Number.isFinite(utilization) ? utilization : status === 'rejected' ? 1 : 0,
      resetsAt: Number.isFinite(reset) && reset > 0 ? reset * 1000 : null,
      status,
    };
  };
  const rejected = names
    .filter((name) => name.endsWith('-status') && headers[name] === 'rejected')
    .map((name) => name.slice(PREFIX.length, -'-status'.length))
    .filter((id) => id !== '');
  const reset = Number(get('reset'));
  const windows: { '5h'?: UsageWindow; '7d'?: UsageWindow } = {};
  const fiveHour = window('5h');
  const sevenDay = window('7d');
  if (fiveHour) windows['5h'] = fiveHour;
  if (sevenDay) windows['7d'] = sevenDay;
  return {
    status: get('status') ?? null,
    windows,
    rejected,
    resetsAt: Number.isFinite(reset) && reset > 0 ? reset * 1000 : null,
    representativeClaim: get('representative-claim') ?? null,
  };
}

/**
 * Sorts an account's error answer into what to do with the account: refresh, park until a window resets (the whole
 * account, or only the model family of a scoped weekly window), cool down briefly for a header-less throttle, mark
 * it for a new login or as blocked, or move on without blaming it. Anything else is the provider's to judge.
 */
export function classifyAccountAnswer(
  status: number,
  headers: IncomingHttpHeaders,
  text: string,
  now = Date.now(),
): AccountAnswer {
  const message = describeErrorBody(text).message ?? '';
  if (status === 401) {
    if (/expired/i.test(message)) return { kind: 'expired' };
    return { kind: 'invalid_token', reason: message || 'the upstream refused the token (401)' };
  }
  if (status === 403 && /revoked/i.test(message)) return { kind: 'revoked', reason: message };
  if ((status === 400 || status === 403) && /organization/i.test(message) && /(disabled|not allowed)/i.test(message)) {
    return { kind: 'blocked', reason: message };
  }
  if ((status === 400 || status === 429) && /extra usage|credits_required/i.test(message)) {
    return { kind: 'extra_usage', reason: message };
  }
  if (status === 400 && /only authorized for use with Claude Code/i.test(message)) {
    return { kind: 'not_claude_code', reason: message };
  }
  if (status !== 429) return { kind: 'provider' };
  const limits = readUnifiedLimits(headers);
  const exhausted = limits && (limits.status === 'rejected' || limits.rejected.length > 0 || limits.resetsAt !== null);
  if (!limits || !exhausted) {
    const wait = retryAfterMs(headers) ?? THROTTLE_MS;
    return { kind: 'throttle', until: now + Math.min(wait, THROTTLE_MS * 4), reason: message || 'throttled (429)' };
  }
  const allModels = limits.rejected.filter((id) => id === '5h' || id === '7d');
  const scoped = limits.rejected.length > 0 && allModels.length === 0;
  const claimScoped = SCOPED_CLAIM.test(limits.representativeClaim ?? '') && allModels.length === 0;
  const binding = allModels[0] ?? limits.rejected[0];
  const windowReset = binding ? Number(firstHeader(headers[`${PREFIX}${binding}-reset`])) * 1000 : NaN;
  const retry = retryAfterMs(headers);
  const until =
    Number.isFinite(windowReset) && windowReset > now
      ? windowReset
      : limits.resetsAt && limits.resetsAt > now
        ? limits.resetsAt
        : now + (retry ?? UNKNOWN_RESET_PARK_MS);
  const which = binding ?? limits.representativeClaim ?? 'usage';
  return {
    kind: 'park',
    until,
    reason: `${which} window exhausted until ${new Date(until).toISOString()}`,
    familyOnly: scoped || claimScoped,
  };
}

/** The model family a scoped window limits: opus, sonnet, haiku, or the model name itself. */
export function modelFamily(model: string): string {
  return /opus|sonnet|haiku/i.exec(model)?.[0]?.toLowerCase() ?? model.toLowerCase();
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
