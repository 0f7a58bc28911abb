import { mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTokenStore } from './file-token.store';
import { accountRecord, describeTokenStoreContract } from './token.store.contract';
import { TokenStoreError } from './token.store';

const dir = mkdtempSync(join(tmpdir(), 'balancer-tokens-'));
const paths = new WeakMap<object, string>();

describeTokenStoreContract(
  'file',
  (namespace) => {
    const path = join(dir, namespace, 'oauth-tokens.json');
    const store = new FileTokenStore(path);
    paths.set(store, path);
    return store;
  },
  async (store) => {
    const again = new FileTokenStore(paths.get(store)!);
    await again.open();
    return again;
  },
);

describe('FileTokenStore on disk', () => {
  it('should write the file with mode 0600 and leave no temporary file behind', async () => {
    const path = join(dir, 'mode', 'tokens.json');
    const store = new FileTokenStore(path);
    await store.open();
    await Promise.all(['a', 'b', 'c'].map((name) => store.put(accountRecord(`${name}@example.com`))));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'mode'))).toEqual(['tokens.json']);
    expect((JSON.parse(readFileSync(path, 'utf8')) as { accounts: unknown[] }).accounts).toHaveLength(3);
  });

  it.each([
    ['not JSON', '{"accounts": [ {"email": '],
    ['not a list of accounts', '{"version":1,"accounts":[{"email":"a@example.com"}]}'],
  ])('should refuse to open a file that is %s, and leave it untouched', async (_case, text) => {
    const path = join(dir, `corrupt-${text.length}.json`);
    writeFileSync(path, text);
    await expect(new FileTokenStore(path).open()).rejects.toThrow(TokenStoreError);
    await expect(new FileTokenStore(path).open()).rejects.toThrow(/left untouched/);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('should start empty when the file does not exist yet', async () => {
    const store = new FileTokenStore(join(dir, 'missing', 'tokens.json'));
    await store.open();
    expect(await store.list()).toEqual([]);
  });
});
