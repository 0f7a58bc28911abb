import type { AccountRecord } from './account-record';
import type { AccountState } from './account-state.store';

/** A token this close to its end is treated as ended: a request sent with it could outlive it upstream. */
const EXPIRY_SLACK_MS = 10_000;

/** Whether `record`'s access token is still good for a request sent now. */
export function tokenUsable(record: AccountRecord, now: number): boolean {
  return record.expiresAt > now + EXPIRY_SLACK_MS;
}

/**
 * When an account whose token has run out may be refreshed again, while its token endpoint backs off after a
 * failure; undefined when its token is usable or a refresh may be tried now.
 */
export function refreshBlockedUntil(record: AccountRecord, state: AccountState, now: number): number | undefined {
  if (tokenUsable(record, now) || state.refreshRetryAt === null || state.refreshRetryAt <= now) return undefined;
  return state.refreshRetryAt;
}
