import { type HealthSettings, ProviderHealth } from './provider-health';

describe('ProviderHealth', () => {
  const settings: HealthSettings = {
    unhealthyThreshold: 2,
    failureCooldownSeconds: 60,
    unhealthyResetOnSuccess: true,
    unhealthyResetTimeoutSeconds: 300,
  };
  let now = 1_000_000;
  const clock = () => now;

  beforeEach(() => {
    now = 1_000_000;
  });

  it('should stay usable below the threshold and cool down when it is reached', () => {
    const health = new ProviderHealth(clock);
    expect(health.recordFailure('a', 'HTTP 500', settings).enteredCooldown).toBe(false);
    expect(health.isUsable('a')).toBe(true);
    expect(health.recordFailure('a', 'HTTP 502', settings)).toEqual({
      enteredCooldown: true,
      cooldownUntil: now + 60_000,
    });
    expect(health.isUsable('a')).toBe(false);
    expect(health.snapshot('a')).toMatchObject({ healthy: false, failureCount: 2, lastError: 'HTTP 502' });
  });

  it('should become usable again when the cooldown has run out and the job expires it', () => {
    const health = new ProviderHealth(clock);
    health.recordFailure('a', 'x', settings);
    health.recordFailure('a', 'x', settings);
    now += 60_001;
    expect(health.isUsable('a')).toBe(true);
    expect(health.expireCooldowns()).toEqual(['a']);
    expect(health.snapshot('a')).toMatchObject({ healthy: true, failureCount: 0 });
    expect(health.expireCooldowns()).toEqual([]);
  });

  it('should honour retry-after at once, even below the threshold, and never shorten a cooldown', () => {
    const health = new ProviderHealth(clock);
    expect(health.recordFailure('a', 'HTTP 429', settings, 600_000)).toEqual({
      enteredCooldown: true,
      cooldownUntil: now + 600_000,
    });
    expect(health.recordFailure('a', 'HTTP 429', settings, 1_000).cooldownUntil).toBe(now + 600_000);
  });

  it('should reset the count on success when configured to, and not otherwise', () => {
    const health = new ProviderHealth(clock);
    health.recordFailure('a', 'x', settings);
    health.recordSuccess('a', settings);
    expect(health.recordFailure('a', 'x', settings).enteredCooldown).toBe(false);

    const sticky = new ProviderHealth(clock);
    const noReset = { ...settings, unhealthyResetOnSuccess: false };
    sticky.recordFailure('a', 'x', noReset);
    sticky.recordSuccess('a', noReset);
    expect(sticky.recordFailure('a', 'x', noReset).enteredCooldown).toBe(true);
  });

  it('should forget old failures after the reset timeout', () => {
    const health = new ProviderHealth(clock);
    health.recordFailure('a', 'x', settings);
    now += 301_000;
    expect(health.recordFailure('a', 'x', settings).enteredCooldown).toBe(false);
  });

  it('should keep providers apart', () => {
    const health = new ProviderHealth(clock);
    health.recordFailure('a', 'x', settings);
    health.recordFailure('a', 'x', settings);
    expect(health.isUsable('b')).toBe(true);
  });
});
