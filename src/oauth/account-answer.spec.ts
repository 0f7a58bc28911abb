import { classifyAccountAnswer, modelFamily, readUnifiedLimits } from './account-answer';

const NOW = 1_800_000_000_000;
const seconds = (ms: number) => String(Math.round(ms / 1000));
const error = (type: string, message: string) => JSON.stringify({ type: 'error', error: { type, message } });

describe('classifyAccountAnswer', () => {
  it('should park the whole account until the exhausted 5h window resets', () => {
    const reset = NOW + 2 * 3600_000;
    const answer = classifyAccountAnswer(
      429,
      {
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-5h-status': 'rejected',
        'anthropic-ratelimit-unified-5h-utilization': '1.02',
        'anthropic-ratelimit-unified-5h-reset': seconds(reset),
        'anthropic-ratelimit-unified-7d-status': 'allowed',
        'retry-after': '7200',
      },
      error('rate_limit_error', 'This request would exceed your account rate limit'),
      NOW,
    );
    expect(answer).toMatchObject({ kind: 'park', until: reset, familyOnly: false });
  });

  it('should park only the model family when a scoped weekly window is the one rejected', () => {
    const reset = NOW + 86_400_000;
    const answer = classifyAccountAnswer(
      429,
      {
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-representative-claim': 'seven_day_opus',
        'anthropic-ratelimit-unified-7d_oi-status': 'rejected',
        'anthropic-ratelimit-unified-7d_oi-reset': seconds(reset),
        'anthropic-ratelimit-unified-5h-status': 'allowed',
      },
      error('rate_limit_error', 'limit'),
      NOW,
    );
    expect(answer).toMatchObject({ kind: 'park', until: reset, familyOnly: true });
  });

  it('should treat a 429 without window headers as a short throttle, not a park', () => {
    const answer = classifyAccountAnswer(
      429,
      { 'x-should-retry': 'true' },
      error('rate_limit_error', 'Rate limited'),
      NOW,
    );
    expect(answer).toMatchObject({ kind: 'throttle' });
    expect((answer as { until: number }).until - NOW).toBeLessThanOrEqual(120_000);
  });

  it.each([
    [401, error('authentication_error', 'OAuth token has expired. Please obtain a new token.'), 'expired'],
    [401, error('authentication_error', 'Invalid bearer token'), 'invalid_token'],
    [403, error('permission_error', 'OAuth token has been revoked. Please obtain a new token.'), 'revoked'],
    [400, error('invalid_request_error', 'This organization has been disabled.'), 'blocked'],
    [403, error('permission_error', 'OAuth authentication is currently not allowed for this organization.'), 'blocked'],
    [
      400,
      error('invalid_request_error', 'Third-party apps now draw from your extra usage, not your plan limits.'),
      'extra_usage',
    ],
    [429, error('rate_limit_error', 'Extra usage is required for long context requests.'), 'extra_usage'],
    [
      400,
      error(
        'invalid_request_error',
        'This credential is only authorized for use with Claude Code and cannot be used for other API requests.',
      ),
      'not_claude_code',
    ],
    [400, error('invalid_request_error', 'max_tokens: must be positive'), 'provider'],
    [529, error('overloaded_error', 'Overloaded'), 'provider'],
  ])('should read %i %s as %s', (status, body, kind) => {
    expect(classifyAccountAnswer(status, {}, body, NOW).kind).toBe(kind);
  });
});

describe('readUnifiedLimits', () => {
  it('should read both windows with their resets in milliseconds', () => {
    const limits = readUnifiedLimits({
      'anthropic-ratelimit-unified-status': 'allowed_warning',
      'anthropic-ratelimit-unified-5h-utilization': '0.42',
      'anthropic-ratelimit-unified-5h-reset': '1800003600',
      'anthropic-ratelimit-unified-7d-utilization': '0.9',
    });
    expect(limits).toMatchObject({
      status: 'allowed_warning',
      windows: { '5h': { utilization: 0.42, resetsAt: 1_800_003_600_000 }, '7d': { utilization: 0.9, resetsAt: null } },
      rejected: [],
    });
  });

  it('should say nothing for an answer without unified headers', () => {
    expect(readUnifiedLimits({ 'anthropic-ratelimit-requests-remaining': '5' })).toBeUndefined();
  });
});

describe('modelFamily', () => {
  it('should name the family a scoped window limits', () => {
    expect(modelFamily('claude-opus-4-1-20250805')).toBe('opus');
    expect(modelFamily('claude-sonnet-4-5')).toBe('sonnet');
    expect(modelFamily('my-model')).toBe('my-model');
  });
});
