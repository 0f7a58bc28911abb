import { storeOpener } from '../state/store-contract.harness';
import type { AccountRecord } from './account-record';
import type { TokenStore } from './token.store';

export function accountRecord(email: string, overrides: Partial<AccountRecord> = {}): AccountRecord {
  return {
    email,
    accessToken: `test-oauth-access-${email}-access`,
    refreshToken: `test-oauth-refresh-${email}-refresh`,
    expiresAt: 2_000_000_000_000,
    scopes: ['user:inference'],
    status: 'ok',
    addedAt: 1_700_000_000_000,
    ...overrides,
  };
}

/**
 * What every TokenStore backend must do. `reopen` gives a second store over the same data (a restart, or another
 * replica), for backends that keep accounts beyond the process; omit it for one that does not.
 */
export function describeTokenStoreContract(
  backend: string,
  create: (namespace: string) => Promise<TokenStore> | TokenStore,
  reopen?: (store: TokenStore) => Promise<TokenStore>,
): void {
  describe(`TokenStore contract: ${backend}`, () => {
    const open = storeOpener(
      'tokens',
      async (namespace) => {
        const store = await create(namespace);
        await store.open();
        return store;
      },
      () => undefined,
    );

    it('should keep accounts by email and list them', async () => {
      const store = await open();
      await store.put(accountRecord('a@example.com'));
      await store.put(accountRecord('b@example.com', { plan: 'claude_max' }));
      expect(await store.get('b@example.com')).toMatchObject({ plan: 'claude_max' });
      expect((await store.list()).map((r) => r.email).sort()).toEqual(['a@example.com', 'b@example.com']);
      expect(await store.get('c@example.com')).toBeUndefined();
    });

    it('should replace tokens only while the refresh token is the expected one', async () => {
      const store = await open();
      const first = accountRecord('a@example.com');
      await store.put(first);
      const rotated = { ...first, accessToken: 'test-oauth-access-new', refreshToken: 'test-oauth-refresh-new' };
      expect(await store.replaceTokens(first.email, first.refreshToken, rotated)).toBe(true);
      const stale = { ...first, accessToken: 'test-oauth-access-stale', refreshToken: 'test-oauth-refresh-stale' };
      expect(await store.replaceTokens(first.email, first.refreshToken, stale)).toBe(false);
      expect(await store.get(first.email)).toMatchObject({ refreshToken: 'test-oauth-refresh-new' });
      expect(await store.replaceTokens('nobody@example.com', 'x', stale)).toBe(false);
    });

    it('should let exactly one of several concurrent rotations of the same token win', async () => {
      const store = await open();
      const first = accountRecord('a@example.com');
      await store.put(first);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.replaceTokens(first.email, first.refreshToken, { ...first, refreshToken: `r-${i}` }),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('should forget one account, or all of them', async () => {
      const store = await open();
      await store.put(accountRecord('a@example.com'));
      await store.put(accountRecord('b@example.com'));
      expect(await store.delete('a@example.com')).toBe(true);
      expect(await store.delete('a@example.com')).toBe(false);
      expect(await store.clear()).toBe(1);
      expect(await store.list()).toEqual([]);
    });

    if (reopen) {
      it('should give a reopened store every account as last written', async () => {
        const store = await open();
        const first = accountRecord('a@example.com');
        await store.put(first);
        await store.replaceTokens(first.email, first.refreshToken, {
          ...first,
          refreshToken: 'test-oauth-refresh-next',
        });
        await store.put(accountRecord('b@example.com', { status: 'needs_login', statusReason: 'revoked' }));
        const again = await reopen(store);
        expect(await again.get('a@example.com')).toMatchObject({ refreshToken: 'test-oauth-refresh-next' });
        expect(await again.get('b@example.com')).toMatchObject({ status: 'needs_login', statusReason: 'revoked' });
      });
    }
  });
}
