import { InMemoryLoginSessionStore, LOGIN_LIFETIME_MS } from './login-session.store';

describe('InMemoryLoginSessionStore', () => {
  const clock = { now: 1_000_000 };
  const store = () => new InMemoryLoginSessionStore(() => clock.now);

  it('should hand a login out once', async () => {
    const logins = store();
    await logins.save({ state: 's', verifier: 'v', createdAt: clock.now });
    expect(await logins.take('s')).toMatchObject({ verifier: 'v' });
    expect(await logins.take('s')).toBeUndefined();
    expect(await logins.take('unknown')).toBeUndefined();
  });

  it('should refuse a login older than ten minutes', async () => {
    const logins = store();
    await logins.save({ state: 's', verifier: 'v', createdAt: clock.now });
    clock.now += LOGIN_LIFETIME_MS + 1;
    expect(await logins.take('s')).toBeUndefined();
  });

  it('should give the sole pending login to a paste without a state, and none when several are pending', async () => {
    const logins = store();
    await logins.save({ state: 'a', verifier: 'v1', createdAt: clock.now });
    expect(await logins.takeSole()).toMatchObject({ state: 'a' });
    await logins.save({ state: 'b', verifier: 'v2', createdAt: clock.now });
    await logins.save({ state: 'c', verifier: 'v3', createdAt: clock.now });
    expect(await logins.takeSole()).toBeUndefined();
  });
});
