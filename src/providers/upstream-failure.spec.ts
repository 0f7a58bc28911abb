import { describeErrorBody, httpFailure, judgeStatus, networkFailure, retryAfterMs } from './upstream-failure';

describe('judgeStatus', () => {
  const settings = { unhealthyHttpCodes: new Set([402, 429, 500]) };

  it('should fail over on the contract statuses and anything configured unhealthy', () => {
    for (const status of [401, 402, 403, 404, 408, 409, 429, 500, 502, 503, 504, 529]) {
      expect(judgeStatus(status, settings)).toBe('failover');
    }
  });

  it('should hand client faults back without failover', () => {
    for (const status of [400, 413, 422]) expect(judgeStatus(status, settings)).toBe('client_fault');
    expect(judgeStatus(200, settings)).toBe('success');
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('should read retry-after in seconds, retry-after-ms and HTTP dates', () => {
    expect(retryAfterMs({ 'retry-after': '30' }, now)).toBe(30_000);
    expect(retryAfterMs({ 'retry-after-ms': '1500', 'retry-after': '30' }, now)).toBe(1500);
    expect(retryAfterMs({ 'retry-after': 'Thu, 01 Jan 2026 00:01:00 GMT' }, now)).toBe(60_000);
  });

  it('should read the unified subscription reset and the earliest exhausted rate-limit reset', () => {
    expect(retryAfterMs({ 'anthropic-ratelimit-unified-reset': String(now / 1000 + 3600) }, now)).toBe(3_600_000);
    expect(
      retryAfterMs(
        {
          'anthropic-ratelimit-requests-remaining': '5',
          'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:10Z',
          'anthropic-ratelimit-tokens-remaining': '0',
          'anthropic-ratelimit-tokens-reset': '2026-01-01T00:00:40Z',
        },
        now,
      ),
    ).toBe(40_000);
    expect(retryAfterMs({}, now)).toBeUndefined();
  });
});

describe('failure descriptions', () => {
  it('should name the Anthropic error type and message', () => {
    const failure = httpFailure(529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', {});
    expect(failure).toMatchObject({ outcome: 'http_529', message: 'HTTP 529 overloaded_error: Overloaded' });
  });

  it('should read OpenAI-style and plain-text error bodies', () => {
    expect(describeErrorBody('{"error":{"message":"Rate limit","type":"requests"}}')).toEqual({
      type: 'requests',
      message: 'Rate limit',
    });
    expect(describeErrorBody('<html>Bad gateway</html>')).toEqual({ message: '<html>Bad gateway</html>' });
  });

  it('should name network errors by their code, looking through causes', () => {
    const error = Object.assign(new Error('fetch failed'), {
      cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    });
    expect(networkFailure(error)).toMatchObject({
      outcome: 'connect_error',
      message: 'connection refused (ECONNREFUSED)',
    });
  });
});
