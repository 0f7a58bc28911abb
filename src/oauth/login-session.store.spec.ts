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
    // The contract stamps logins with the real clock, which runs on after this store's clock was read.
    clocks.get(store)!.now = Date.now() + LOGIN_LIFETIME_MS + 1;
    return Promise.resolve();
  },
);
