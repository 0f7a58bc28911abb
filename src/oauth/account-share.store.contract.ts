import { storeOpener } from '../state/store-contract.harness';
import type { AccountShareStore } from './account-share.store';

/** What every AccountShareStore backend must do. */
export function describeAccountShareStoreContract(
  backend: string,
  create: (namespace: string) => Promise<AccountShareStore> | AccountShareStore,
  dispose: (store: AccountShareStore) => Promise<void> | void = () => undefined,
): void {
  describe(`AccountShareStore contract: ${backend}`, () => {
    const open = storeOpener('shares', create, dispose);

    it('should add tokens per client in each window of each account, at once on this replica', async () => {
      const store = await open();
      await store.add('seat@example.com', '5h:1', 'alice', 300);
      await store.add('seat@example.com', '5h:1', 'alice', 200);
      await store.add('seat@example.com', '5h:1', 'bob', 100);
      await store.add('seat@example.com', '5h:2', 'bob', 7);
      await store.add('other@example.com', '5h:1', 'carol', 9);
      expect(Object.fromEntries(store.tokens('seat@example.com', '5h:1'))).toEqual({ alice: 500, bob: 100 });
      expect(Object.fromEntries(store.tokens('seat@example.com', '5h:2'))).toEqual({ bob: 7 });
      expect(store.tokens('nobody@example.com', '5h:1').size).toBe(0);
    });
  });
}
