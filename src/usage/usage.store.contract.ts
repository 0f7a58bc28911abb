import { storeOpener } from '../state/store-contract.harness';
import { emptyCounts, type UsageCounts, type UsageStore } from './usage.store';

const counts = (more: Partial<UsageCounts>): UsageCounts => ({ ...emptyCounts(), ...more });

/** What every UsageStore backend must do. */
export function describeUsageStoreContract(
  backend: string,
  create: (namespace: string) => Promise<UsageStore> | UsageStore,
  dispose: (store: UsageStore) => Promise<void> | void = () => undefined,
): void {
  describe(`UsageStore contract: ${backend}`, () => {
    const open = storeOpener(
      'usage',
      async (namespace) => {
        const store = await create(namespace);
        await store.open();
        return store;
      },
      dispose,
    );

    it('should add up entries per day, client and model, and list them in order', async () => {
      const store = await open();
      await store.add({
        day: '2026-12-01',
        client: 'bob',
        model: 'm',
        counts: counts({ requests: 1, inputTokens: 5 }),
      });
      await store.add({
        day: '2026-12-01',
        client: 'alice',
        model: 'm',
        counts: counts({ requests: 1, inputTokens: 10, cacheReadTokens: 4, costUsd: 0.5 }),
      });
      await store.add({
        day: '2026-12-01',
        client: 'alice',
        model: 'm',
        counts: counts({
          requests: 1,
          outputTokens: 3,
          cacheCreationTokens: 2,
          costUsd: 0.25,
          subscriptionCostUsd: 0.25,
        }),
      });
      await store.add({
        day: '2026-12-02',
        client: 'alice',
        model: 'x',
        counts: counts({ requests: 1, unpricedCalls: 1 }),
      });
      const rows = await store.rows({ from: '2026-12-01', to: '2026-12-02' });
      expect(rows.map((row) => [row.day, row.client, row.model])).toEqual([
        ['2026-12-01', 'alice', 'm'],
        ['2026-12-01', 'bob', 'm'],
        ['2026-12-02', 'alice', 'x'],
      ]);
      expect(rows[0]!.counts).toEqual(
        counts({
          requests: 2,
          inputTokens: 10,
          outputTokens: 3,
          cacheReadTokens: 4,
          cacheCreationTokens: 2,
          costUsd: 0.75,
          subscriptionCostUsd: 0.25,
        }),
      );
      expect(await store.rows({ from: '2026-12-02', to: '2026-12-02', client: 'bob' })).toEqual([]);
    });

    it("should give a client's day totals: every token, and only the USD billed per token", async () => {
      const store = await open();
      await store.add({
        day: '2026-12-01',
        client: 'alice',
        model: 'a',
        counts: counts({ requests: 1, inputTokens: 100, outputTokens: 20, costUsd: 2 }),
      });
      await store.add({
        day: '2026-12-01',
        client: 'alice',
        model: 'b',
        counts: counts({ requests: 1, cacheReadTokens: 30, costUsd: 1, subscriptionCostUsd: 1 }),
      });
      await store.add({ day: '2026-12-02', client: 'alice', model: 'a', counts: counts({ inputTokens: 999 }) });
      expect(await store.dayTotals('alice', '2026-12-01')).toEqual({ tokens: 150, costUsd: 2 });
      expect(await store.dayTotals('bob', '2026-12-01')).toEqual({ tokens: 0, costUsd: 0 });
    });

    it('should keep what was added across a close', async () => {
      const store = await open();
      await store.add({ day: '2026-12-01', client: 'alice', model: 'm', counts: counts({ requests: 3 }) });
      await store.close();
      expect((await store.rows({ from: '2026-12-01', to: '2026-12-01' }))[0]?.counts.requests).toBe(3);
    });
  });
}
