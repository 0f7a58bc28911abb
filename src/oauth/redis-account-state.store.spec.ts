import { disposeBackend, testBackend } from '../state/redis/redis-test-backend.harness';
import type { StateBackend } from '../state/redis/state-backend';
import { describeAccountStateStoreContract } from './account-state.store.contract';
import { RedisAccountStateStore } from './redis-account-state.store';

const opened: StateBackend[] = [];

afterAll(async () => {
  for (const backend of opened) await disposeBackend(backend);
});

describeAccountStateStoreContract('redis', async (namespace) => {
  const backend = await testBackend(namespace);
  opened.push(backend);
  const store = new RedisAccountStateStore(backend);
  await store.open();
  return store;
});

describe('RedisAccountStateStore across replicas', () => {
  it('should show a park made on one replica to the other within moments, and keep both replicas’ updates', async () => {
    const namespace = `replicas-${Date.now()}`;
    const [a, b] = [await testBackend(namespace), await testBackend(namespace)];
    opened.push(a, b);
    const [left, right] = [new RedisAccountStateStore(a), new RedisAccountStateStore(b)];
    await Promise.all([left.open(), right.open()]);
    await Promise.all([
      left.update('x@example.com', { parked: { until: 99, reason: 'weekly window' } }),
      right.update('x@example.com', { windows: { '7d': { utilization: 1, resetsAt: 99, status: 'rejected' } } }),
    ]);
    for (
      let i = 0;
      i < 100 && !(left.snapshot('x@example.com').windows['7d'] && right.snapshot('x@example.com').parked);
      i += 1
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const store of [left, right]) {
      expect(store.snapshot('x@example.com')).toMatchObject({
        parked: { until: 99 },
        windows: { '7d': { utilization: 1 } },
      });
    }
  });
});
