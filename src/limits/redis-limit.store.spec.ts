import { disposeBackend, testBackend } from '../state/redis/redis-test-backend.harness';
import type { StateBackend } from '../state/redis/state-backend';
import { describeLimitStoreContract } from './limit.store.contract';
import { RedisLimitStore } from './redis-limit.store';

const backends = new WeakMap<RedisLimitStore, StateBackend>();

describeLimitStoreContract(
  'redis',
  async (namespace) => {
    const backend = await testBackend(namespace);
    const store = new RedisLimitStore(backend);
    backends.set(store, backend);
    return store;
  },
  (store) => disposeBackend(backends.get(store as RedisLimitStore)!),
);

describe('RedisLimitStore across replicas', () => {
  const opened: StateBackend[] = [];

  afterAll(async () => {
    for (const backend of opened) await disposeBackend(backend);
  });

  it('should enforce one limit for two replicas, not one each', async () => {
    const namespace = `limit-replicas-${Date.now()}`;
    const [a, b] = await Promise.all([testBackend(namespace), testBackend(namespace)]);
    opened.push(a, b);
    const stores = [new RedisLimitStore(a), new RedisLimitStore(b)];
    const hits = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.hit('alice', 4, 60_000)));
    expect(hits.filter((hit) => hit.allowed)).toHaveLength(4);
    const slots = await Promise.all(
      Array.from({ length: 6 }, (_, i) => stores[i % 2]!.acquire('alice', `slot-${i}`, 3, 60_000)),
    );
    expect(slots.filter(Boolean)).toHaveLength(3);
  });
});
