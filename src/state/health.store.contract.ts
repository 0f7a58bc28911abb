import { storeOpener } from './store-contract.harness';
import type { HealthSettings, HealthStore } from './health.store';

/** A clock the suite moves by hand; a backend under test must read time only through it. */
export interface TestClock {
  now: number;
}

/**
 * What every HealthStore backend must do. `create` gets the suite's clock and a name unique to the test, so that a
 * shared backend's runs never see each other's state.
 */
export function describeHealthStoreContract(
  backend: string,
  create: (clock: () => number, namespace: string) => Promise<HealthStore> | HealthStore,
  dispose: (store: HealthStore) => Promise<void> | void = () => undefined,
): void {
  describe(`HealthStore contract: ${backend}`, () => {
    const settings: HealthSettings = {
      unhealthyThreshold: 2,
      failureCooldownSeconds: 60,
      unhealthyResetOnSuccess: true,
      unhealthyResetTimeoutSeconds: 300,
    };
    const clock: TestClock = { now: 1_000_000 };
    const open = storeOpener('health', (namespace) => create(() => clock.now, namespace), dispose);

    beforeEach(() => {
      clock.now = 1_000_000;
    });

    it('should stay usable below the threshold and cool down when it is reached', async () => {
      const health = await open();
      expect((await health.recordFailure('a', 'HTTP 500', settings)).enteredCooldown).toBe(false);
      expect(health.isUsable('a')).toBe(true);
      expect(await health.recordFailure('a', 'HTTP 502', settings)).toEqual({
        enteredCooldown: true,
        cooldownUntil: clock.now + 60_000,
      });
      expect(health.isUsable('a')).toBe(false);
      expect(health.snapshot('a')).toMatchObject({ healthy: false, failureCount: 2, lastError: 'HTTP 502' });
    });

    it('should become usable again when the cooldown has run out and the job expires it', async () => {
      const health = await open();
      await health.recordFailure('a', 'x', settings);
      await health.recordFailure('a', 'x', settings);
      clock.now += 60_001;
      expect(health.isUsable('a')).toBe(true);
      expect(await health.expireCooldowns()).toEqual(['a']);
      expect(health.snapshot('a')).toMatchObject({ healthy: true, failureCount: 0, cooldownUntil: null });
      expect(await health.expireCooldowns()).toEqual([]);
    });

    it('should honour retry-after at once, even below the threshold, and never shorten a cooldown', async () => {
      const health = await open();
      expect(await health.recordFailure('a', 'HTTP 429', settings, 600_000)).toEqual({
        enteredCooldown: true,
        cooldownUntil: clock.now + 600_000,
      });
      expect((await health.recordFailure('a', 'HTTP 429', settings, 1_000)).cooldownUntil).toBe(clock.now + 600_000);
      expect(health.snapshot('a').cooldownUntil).toBe(clock.now + 600_000);
    });

    it('should reset the count on success when configured to, and not otherwise', async () => {
      const health = await open();
      await health.recordFailure('a', 'x', settings);
      await health.recordSuccess('a', settings);
      expect((await health.recordFailure('a', 'x', settings)).enteredCooldown).toBe(false);
      expect(health.snapshot('a').lastSuccessAt).toBe(clock.now);

      const sticky = await open();
      const noReset = { ...settings, unhealthyResetOnSuccess: false };
      await sticky.recordFailure('a', 'x', noReset);
      await sticky.recordSuccess('a', noReset);
      expect((await sticky.recordFailure('a', 'x', noReset)).enteredCooldown).toBe(true);
    });

    it('should forget old failures after the reset timeout', async () => {
      const health = await open();
      await health.recordFailure('a', 'x', settings);
      clock.now += 301_000;
      expect((await health.recordFailure('a', 'x', settings)).enteredCooldown).toBe(false);
    });

    it('should count failures that arrive at once, none lost', async () => {
      const health = await open();
      const lenient = { ...settings, unhealthyThreshold: 100 };
      await Promise.all(Array.from({ length: 20 }, () => health.recordFailure('a', 'x', lenient)));
      expect(health.snapshot('a').failureCount).toBe(20);
    });

    it('should keep providers apart and forget the ones no longer configured', async () => {
      const health = await open();
      await health.recordFailure('a', 'x', settings);
      await health.recordFailure('a', 'x', settings);
      expect(health.isUsable('b')).toBe(true);
      await health.retainOnly(new Set(['b']));
      expect(health.isUsable('a')).toBe(true);
      expect(health.snapshot('a')).toMatchObject({ failureCount: 0, lastError: null });
    });
  });
}
