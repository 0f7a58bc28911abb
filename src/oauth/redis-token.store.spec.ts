import { disposeBackend, testBackend } from '../state/redis/redis-test-backend.harness';
import type { StateBackend } from '../state/redis/state-backend';
import { RedisTokenStore } from './redis-token.store';
import { accountRecord, describeTokenStoreContract } from './token.store.contract';
import { TokenStoreError } from './token.store';

const SECRET = 'state-key-for-the-tests-0123456789';
const backends = new WeakMap<RedisTokenStore, StateBackend>();
const opened: StateBackend[] = [];

afterAll(async () => {
  for (const backend of opened) await disposeBackend(backend);
});

describeTokenStoreContract(
  'redis',
  async (namespace) => {
    const backend = await testBackend(namespace);
    opened.push(backend);
    const store = new RedisTokenStore(backend, SECRET);
    backends.set(store, backend);
    return store;
  },
  async (store) => {
    const again = new RedisTokenStore(backends.get(store as RedisTokenStore)!, SECRET);
    await again.open();
    return again;
  },
);

describe('RedisTokenStore sealing', () => {
  it('should keep no token readable in Redis, and refuse to open with another key', async () => {
    const backend = await testBackend(`sealed-${Date.now()}`);
    opened.push(backend);
    const record = accountRecord('a@example.com');
    await new RedisTokenStore(backend, SECRET).put(record);
    const raw =
      JSON.stringify(await backend.redis.hgetall('oauth:accounts')) +
      JSON.stringify(await backend.redis.hgetall('oauth:refresh-fingerprints'));
    expect(raw).not.toContain(record.accessToken);
    expect(raw).not.toContain(record.refreshToken);
    expect(raw).not.toContain('test-oauth-');
    await expect(new RedisTokenStore(backend, 'another-key-entirely-9876543210').open()).rejects.toThrow(
      TokenStoreError,
    );
  });
});
