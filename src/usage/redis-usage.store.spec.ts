import { disposeBackend, testBackend } from '../state/redis/redis-test-backend.harness';
import type { StateBackend } from '../state/redis/state-backend';
import { RedisUsageStore } from './redis-usage.store';
import { emptyCounts } from './usage.store';
import { describeUsageStoreContract } from './usage.store.contract';

const backends = new WeakMap<RedisUsageStore, StateBackend>();

describeUsageStoreContract(
  'redis',
  async (namespace) => {
    const backend = await testBackend(namespace);
    const store = new RedisUsageStore(backend, () => 90);
    backends.set(store, backend);
    return store;
  },
  async (store) => {
    await store.close();
    await disposeBackend(backends.get(store as RedisUsageStore)!);
  },
);

describe('RedisUsageStore across replicas', () => {
  it('should add both replicas’ usage into one row', async () => {
    const namespace = `usage-replicas-${Date.now()}`;
    const [a, b] = await Promise.all([testBackend(namespace), testBackend(namespace)]);
    try {
      const stores = [new RedisUsageStore(a, () => 90), new RedisUsageStore(b, () => 90)];
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          stores[i % 2]!.add({
            day: '2026-12-01',
            client: 'alice',
            model: 'm',
            counts: { ...emptyCounts(), requests: 1, outputTokens: 2 },
          }),
        ),
      );
      await Promise.all(stores.map((store) => store.close()));
      expect((await stores[0]!.rows({ from: '2026-12-01', to: '2026-12-01' }))[0]?.counts).toMatchObject({
        requests: 10,
        outputTokens: 20,
      });
      expect(await stores[1]!.dayTotals('alice', '2026-12-01')).toEqual({ tokens: 20, costUsd: 0 });
    } finally {
      await disposeBackend(a);
      await b.close();
    }
  });
});
