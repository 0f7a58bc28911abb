import { InMemoryLoginSessionStore, LOGIN_LIFETIME_MS } from './login-session.store';
import { describeLoginSessionStoreContract } from './login-session.store.contract';

const clocks = new WeakMap<object, { now: number }>();

describeLoginSessionStoreContract(
  'in memory',
  () => {
    const clock = { now: Date.now() };
    const store = new InMemoryLoginSessionStore(() => clock.now);
    clocks.set(store, clock);
    return store;
  },
  (store) => {
    clocks.get(store)!.now += LOGIN_LIFETIME_MS + 1;
    return Promise.resolve();
  },
);
