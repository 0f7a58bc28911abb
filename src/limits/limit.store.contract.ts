import { storeOpener } from '../state/store-contract.harness';
import type { LimitStore } from './limit.store';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What every LimitStore backend must do. Windows are short and real: a shared backend keeps time on its own clock. */
export function describeLimitStoreContract(
  backend: string,
  create: (namespace: string) => Promise<LimitStore> | LimitStore,
  dispose: (store: LimitStore) => Promise<void> | void = () => undefined,
): void {
  describe(`LimitStore contract: ${backend}`, () => {
    const open = storeOpener('limits', create, dispose);

    it('should count requests in a rolling window and refuse past the limit until the oldest leaves it', async () => {
      const store = await open();
      expect(await store.hit('alice', 2, 300)).toEqual({ allowed: true });
      expect(await store.hit('alice', 2, 300)).toEqual({ allowed: true });
      const refused = await store.hit('alice', 2, 300);
      expect(refused.allowed).toBe(false);
      if (refused.allowed) throw new Error('unreachable');
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(300);
      expect(await store.hit('bob', 2, 300)).toEqual({ allowed: true });
      await pause(refused.retryAfterMs + 20);
      expect(await store.hit('alice', 2, 300)).toEqual({ allowed: true });
    });

    it('should hand out at most the maximum of slots, and take one back when released', async () => {
      const store = await open();
      expect(await store.acquire('alice', 's1', 2, 10_000)).toBe(true);
      expect(await store.acquire('alice', 's2', 2, 10_000)).toBe(true);
      expect(await store.acquire('alice', 's3', 2, 10_000)).toBe(false);
      expect(await store.acquire('bob', 's4', 2, 10_000)).toBe(true);
      await store.release('alice', 's1');
      expect(await store.acquire('alice', 's3', 2, 10_000)).toBe(true);
    });

    it('should let a slot that nobody renews expire, and keep a renewed one', async () => {
      const store = await open();
      expect(await store.acquire('alice', 'kept', 2, 250)).toBe(true);
      expect(await store.acquire('alice', 'abandoned', 2, 250)).toBe(true);
      await pause(150);
      await store.renew('alice', ['kept'], 250);
      await pause(150);
      expect(await store.acquire('alice', 'new', 2, 10_000)).toBe(true);
      expect(await store.acquire('alice', 'one-too-many', 2, 10_000)).toBe(false);
    });
  });
}
