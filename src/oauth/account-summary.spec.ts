import type { AccountRecord } from './account-record';
import { EMPTY_ACCOUNT_STATE } from './account-state.store';
import { accountSummary } from './account-summary';

const NOW = Date.parse('2026-12-04T10:00:00Z');
const record = (expiresInMs: number): AccountRecord => ({
  email: 'erin@example.com',
  accessToken: 'test-access-token-that-is-long',
  refreshToken: 'test-refresh-token-that-is-long',
  expiresAt: NOW + expiresInMs,
  scopes: ['user:inference'],
  status: 'ok',
  addedAt: NOW - 86_400_000,
});
const failing = {
  ...EMPTY_ACCOUNT_STATE,
  refreshRetryAt: NOW + 30_000,
  lastError: 'refresh: the token endpoint could not be reached',
};

describe('accountSummary', () => {
  it('should read ok while the token is valid, even with a refresh backing off', () => {
    expect(accountSummary(record(3_600_000), failing, NOW)).toMatchObject({ state: 'ok', parked_until: null });
  });

  it('should read parked until the next refresh once the token has run out and its refresh is backing off', () => {
    const summary = accountSummary(record(-1_000), failing, NOW);
    expect(summary).toMatchObject({
      state: 'parked',
      parked_until: '2026-12-04T10:00:30.000Z',
      refresh_retry_at: '2026-12-04T10:00:30.000Z',
      expired: true,
      last_error: 'refresh: the token endpoint could not be reached',
    });
    expect(summary.state_reason).toMatch(/access token has run out/);
  });

  it('should read ok for an expired token whose refresh may be tried now (the next request refreshes it)', () => {
    const due = { ...failing, refreshRetryAt: NOW - 1 };
    expect(accountSummary(record(-1_000), due, NOW)).toMatchObject({ state: 'ok', expired: true });
  });

  it('should keep a real park and its reason ahead of a backing-off refresh', () => {
    const parked = { ...failing, parked: { until: NOW + 600_000, reason: 'the 5h window is used up' } };
    expect(accountSummary(record(-1_000), parked, NOW)).toMatchObject({
      state: 'parked',
      state_reason: 'the 5h window is used up',
      parked_until: '2026-12-04T10:10:00.000Z',
    });
  });

  it('should show previews of the tokens, never the tokens', () => {
    const text = JSON.stringify(accountSummary(record(-1_000), failing, NOW));
    expect(text).not.toContain('access-token-that-is-long');
    expect(text).not.toContain('refresh-token-that-is-long');
  });
});
