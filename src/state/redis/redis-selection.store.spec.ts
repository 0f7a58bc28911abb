import { describeSelectionStoreContract } from '../selection.store.contract';
import { RedisSelectionStore } from './redis-selection.store';
import { disposeBackend, testBackend } from './redis-test-backend.harness';
import type { StateBackend } from './state-backend';

const backends = new WeakMap<RedisSelectionStore, StateBackend>();

describeSelectionStoreContract(
  'redis',
  async (clock, namespace) => {
    const backend = await testBackend(namespace);
    const store = new RedisSelectionStore(backend, clock);
    backends.set(store, backend);
    return store;
  },
  (store) => disposeBackend(backends.get(store as RedisSelectionStore)!),
);

describe('RedisSelectionStore across replicas', () => {
  it('should keep a session on its choice and share rotation turns between replicas', async () => {
    const namespace = `replicas-${Date.now()}`;
    const [a, b] = [await testBackend(namespace), await testBackend(namespace)];
    try {
      const [left, right] = [new RedisSelectionStore(a), new RedisSelectionStore(b)];
      await left.stick('route:session-1', 'provider-x');
      expect(await right.stickyChoice('route:session-1', 60_000)).toBe('provider-x');
      const turns = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? left : right).nextTurn('r')));
      expect([...turns].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await disposeBackend(a);
      await b.close();
    }
  });
});
