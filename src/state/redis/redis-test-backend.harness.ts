import { Logger } from '@nestjs/common';
import { StateBackend } from './state-backend';

// The backends' up and down lines are for operators; the tests read the stores.
Logger.overrideLogger(false);

export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A backend on the test Redis under a prefix of its own; `dispose` removes its keys and closes it. */
export async function testBackend(namespace: string): Promise<StateBackend> {
  const backend = new StateBackend(TEST_REDIS_URL, `balancer-test:${namespace}:`);
  await backend.connect();
  if (!backend.isUp) throw new Error(`The tests need Redis at ${TEST_REDIS_URL} (redis-server --port 6379)`);
  return backend;
}

export async function disposeBackend(backend: StateBackend): Promise<void> {
  const keys = await backend.scan('*');
  if (keys.length > 0) await backend.run(() => backend.redis.del(...keys));
  await backend.close();
}
