import { disposeBackend, testBackend } from '../state/redis/redis-test-backend.harness';
import type { StateBackend } from '../state/redis/state-backend';
import { describeLoginSessionStoreContract } from './login-session.store.contract';
import { RedisLoginSessionStore } from './redis-login-session.store';

const backends = new WeakMap<object, StateBackend>();
const opened: StateBackend[] = [];

afterAll(async () => {
  for (const backend of opened) await disposeBackend(backend);
});

describeLoginSessionStoreContract(
  'redis',
  async (namespace) => {
    const backend = await testBackend(namespace);
    opened.push(backend);
    const store = new RedisLoginSessionStore(backend);
    backends.set(store, backend);
    return store;
  },
  // Redis ends the login by the key's own expiry; the test shortens it rather than waiting ten minutes.
  async (store, state) => {
    await backends.get(store)!.redis.pexpire(`oauth:login:${state}`, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
  },
);
