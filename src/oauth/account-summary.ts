import type { UsageWindow } from './account-answer';
import { type AccountRecord, tokenPreview } from './account-record';
import type { AccountState } from './account-state.store';
import { refreshBlockedUntil } from './token-expiry';

/** How an account reads on /oauth/status and /providers: its state, windows and token previews, never a token. */
export function accountSummary(record: AccountRecord, state: AccountState, now = Date.now()) {
  const parked =
    (state.parked && state.parked.until > now ? state.parked : null) ?? restingForRefresh(record, state, now);
  const familyParks = Object.fromEntries(
    Object.entries(state.familyParks)
      .filter(([, park]) => park.until > now)
      .map(([family, park]) => [family, { until: iso(park.until), reason: park.reason }]),
  );
  return {
    email: record.email,
    plan: record.plan ?? null,
    organization: record.organization ?? null,
    state: record.status !== 'ok' ? record.status : parked ? 'parked' : 'ok',
    state_reason: record.status !== 'ok' ? (record.statusReason ?? null) : (parked?.reason ?? null),
    parked_until: parked ? iso(parked.until) : null,
    parked_families: familyParks,
    throttled_until: state.throttledUntil !== null && state.throttledUntil > now ? iso(state.throttledUntil) : null,
    expires_at: iso(record.expiresAt),
    expired: record.expiresAt <= now,
    scopes: record.scopes,
    last_refresh: record.lastRefreshAt ? iso(record.lastRefreshAt) : null,
    refresh_retry_at: state.refreshRetryAt !== null && state.refreshRetryAt > now ? iso(state.refreshRetryAt) : null,
    windows: { '5h': windowSummary(state.windows['5h']), '7d': windowSummary(state.windows['7d']) },
    notice: state.notice,
    last_error: state.lastError,
    last_used: state.lastUsedAt ? iso(state.lastUsedAt) : null,
    access_token: tokenPreview(record.accessToken),
    refresh_token: tokenPreview(record.refreshToken),
  };
}

/** A token that ran out while its refresh backs off rests the account as a park would, until the next try. */
function restingForRefresh(record: AccountRecord, state: AccountState, now: number) {
  const until = refreshBlockedUntil(record, state, now);
  if (until === undefined) return null;
  return { until, reason: 'its access token has run out and refreshing it failed (see last_error); tried again then' };
}

export type AccountSummary = ReturnType<typeof accountSummary>;

function windowSummary(window: UsageWindow | undefined) {
  if (!window) return null;
  return {
    utilization: window.utilization,
    resets_at: window.resetsAt !== null ? iso(window.resetsAt) : null,
    status: window.status,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
