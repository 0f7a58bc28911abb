import { disposeBackend, testBackend } from '../state/redis/redis-test-backend.harness';
import type { StateBackend } from '../state/redis/state-backend';
import { InMemoryAccountShareStore, RedisAccountShareStore } from './account-share.store';
import { describeAccountShareStoreContract } from './account-share.store.contract';

describeAccountShareStoreContract('in memory', () => new InMemoryAccountShareStore());

const backends = new WeakMap<RedisAccountShareStore, StateBackend>();

describeAccountShareStoreContract(
  'redis',
  async (namespace) => {
    const backend = await testBackend(namespace);
    const store = new RedisAccountShareStore(backend);
    backends.set(store, backend);
    return store;
  },
  (store) => disposeBackend(backends.get(store as RedisAccountShareStore)!),
);

describe('RedisAccountShareStore across replicas', () => {
  it("should let each replica see the other's shares after its next read", async () => {
    const namespace = `shares-replicas-${Date.now()}`;
    const [a, b] = await Promise.all([testBackend(namespace), testBackend(namespace)]);
    try {
      let clock = 0;
      const onA = new RedisAccountShareStore(a, () => clock);
      const onB = new RedisAccountShareStore(b, () => clock);
      await onA.add('seat', '5h:1', 'alice', 900);
      await onB.add('seat', '5h:1', 'bob', 100);
      onB.tokens('seat', '5h:1');
      for (let i = 0; i < 100 && onB.tokens('seat', '5h:1').get('alice') !== 900; i += 1) {
        clock += 2_000;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(Object.fromEntries(onB.tokens('seat', '5h:1'))).toEqual({ alice: 900, bob: 100 });
    } finally {
      await disposeBackend(a);
      await b.close();
    }
  });
});
