import { storeOpener } from '../state/store-contract.harness';
import type { LoginSessionStore } from './login-session.store';

/** What every LoginSessionStore backend must do. `expire` makes a saved login older than its lifetime. */
export function describeLoginSessionStoreContract(
  backend: string,
  create: (namespace: string) => Promise<LoginSessionStore> | LoginSessionStore,
  expire: (store: LoginSessionStore, state: string) => Promise<void>,
): void {
  describe(`LoginSessionStore contract: ${backend}`, () => {
    const open = storeOpener('logins', create, () => undefined);

    it('should hand a login out once', async () => {
      const logins = await open();
      await logins.save({ state: 's', verifier: 'v', createdAt: Date.now() });
      expect(await logins.take('s')).toMatchObject({ verifier: 'v' });
      expect(await logins.take('s')).toBeUndefined();
      expect(await logins.take('unknown')).toBeUndefined();
    });

    it('should refuse a login older than its lifetime', async () => {
      const logins = await open();
      await logins.save({ state: 's', verifier: 'v', createdAt: Date.now() });
      await expire(logins, 's');
      expect(await logins.take('s')).toBeUndefined();
    });

    it('should give the sole pending login to a paste without a state, and none when several are pending', async () => {
      const logins = await open();
      await logins.save({ state: 'a', verifier: 'v1', createdAt: Date.now() });
      expect(await logins.takeSole()).toMatchObject({ state: 'a' });
      await logins.save({ state: 'b', verifier: 'v2', createdAt: Date.now() });
      await logins.save({ state: 'c', verifier: 'v3', createdAt: Date.now() });
      expect(await logins.takeSole()).toBeUndefined();
    });

    it('should let exactly one of several concurrent takers have a login', async () => {
      const logins = await open();
      await logins.save({ state: 's', verifier: 'v', createdAt: Date.now() });
      const taken = await Promise.all(Array.from({ length: 8 }, () => logins.take('s')));
      expect(taken.filter(Boolean)).toHaveLength(1);
    });
  });
}
