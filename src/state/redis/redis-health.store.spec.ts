import { describeHealthStoreContract } from '../health.store.contract';
import { RedisHealthStore } from './redis-health.store';
import { disposeBackend, testBackend } from './redis-test-backend.harness';
import type { StateBackend } from './state-backend';

const backends = new WeakMap<RedisHealthStore, StateBackend>();

describeHealthStoreContract(
  'redis',
  async (clock, namespace) => {
    const backend = await testBackend(namespace);
    const store = new RedisHealthStore(backend, clock);
    await store.open();
    backends.set(store, backend);
    return store;
  },
  (store) => disposeBackend(backends.get(store as RedisHealthStore)!),
);

describe('RedisHealthStore across replicas', () => {
  const settings = {
    unhealthyThreshold: 2,
    failureCooldownSeconds: 60,
    unhealthyResetOnSuccess: true,
    unhealthyResetTimeoutSeconds: 300,
  };
  const opened: StateBackend[] = [];

  afterAll(async () => {
    for (const backend of opened) await disposeBackend(backend);
  });

  async function replicas(namespace: string): Promise<[RedisHealthStore, RedisHealthStore]> {
    const a = await testBackend(namespace);
    const b = await testBackend(namespace);
    opened.push(a, b);
    const stores = [new RedisHealthStore(a), new RedisHealthStore(b)] as const;
    await Promise.all(stores.map((store) => store.open()));
    return [stores[0], stores[1]];
  }

  async function eventually(check: () => boolean): Promise<void> {
    for (let i = 0; i < 100 && !check(); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(check()).toBe(true);
  }

  it('should make a cooldown that starts on one replica hold on the other within moments', async () => {
    const [a, b] = await replicas(`replicas-${Date.now()}`);
    await a.recordFailure('p', 'HTTP 500', settings);
    await b.recordFailure('p', 'HTTP 502', settings);
    expect(b.isUsable('p')).toBe(false);
    await eventually(() => !a.isUsable('p'));
    expect(a.snapshot('p')).toMatchObject({ failureCount: 2, lastError: 'HTTP 502' });
  });

  it('should count failures from two replicas at once, none lost', async () => {
    const [a, b] = await replicas(`concurrent-${Date.now()}`);
    const lenient = { ...settings, unhealthyThreshold: 1000 };
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).recordFailure('p', 'x', lenient)));
    await eventually(() => a.snapshot('p').failureCount === 40 && b.snapshot('p').failureCount === 40);
  });

  it('should show a new replica the shared state as soon as it opens', async () => {
    const namespace = `late-${Date.now()}`;
    const [a] = await replicas(namespace);
    await a.recordFailure('p', 'x', settings, 600_000);
    const late = await testBackend(namespace);
    opened.push(late);
    const store = new RedisHealthStore(late);
    await store.open();
    expect(store.isUsable('p')).toBe(false);
  });
});
