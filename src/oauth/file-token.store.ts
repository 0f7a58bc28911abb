import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AccountRecord } from './account-record';
import { InMemoryTokenStore } from './in-memory-token.store';
import { TokenStoreError } from './token.store';

interface StoreFile {
  readonly version: 1;
  readonly accounts: AccountRecord[];
}

/**
 * Accounts in one JSON file (mode 0600). Every change writes a temporary file beside it, syncs it and renames it over
 * the old one, so the file is never half-written; changes are written one at a time, in order. A file that exists but
 * cannot be read as accounts stops startup with its path, and is left as it was.
 */
export class FileTokenStore extends InMemoryTokenStore {
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {
    super();
  }

  override async open(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new TokenStoreError(`The OAuth token store ${this.path} cannot be read: ${(error as Error).message}`, {
        cause: error,
      });
    }
    for (const record of parseStore(text, this.path)) this.accounts.set(record.email, record);
  }

  protected override persist(): Promise<void> {
    const document: StoreFile = { version: 1, accounts: [...this.accounts.values()] };
    const text = `${JSON.stringify(document, null, 2)}\n`;
    const write = this.writing.then(() => this.writeAtomically(text));
    // The next write waits for this one, whether it worked or not; this caller still sees its own failure.
    this.writing = write.catch(() => undefined);
    return write;
  }

  private async writeAtomically(text: string): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await chmod(temporary, 0o600);
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }
}

function parseStore(text: string, path: string): AccountRecord[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new TokenStoreError(
      `The OAuth token store ${path} is not valid JSON (${(error as Error).message}). It was left untouched: fix or move it, then start again.`,
      { cause: error },
    );
  }
  const accounts = (document as Partial<StoreFile> | null)?.accounts;
  if (!Array.isArray(accounts) || !accounts.every(isAccountRecord)) {
    throw new TokenStoreError(
      `The OAuth token store ${path} does not hold a list of accounts. It was left untouched: fix or move it, then start again.`,
    );
  }
  return accounts;
}

function isAccountRecord(value: unknown): value is AccountRecord {
  const record = value as Partial<AccountRecord> | null;
  return (
    typeof record?.email === 'string' &&
    typeof record.accessToken === 'string' &&
    typeof record.refreshToken === 'string' &&
    typeof record.expiresAt === 'number' &&
    Array.isArray(record.scopes) &&
    (record.status === 'ok' || record.status === 'needs_login' || record.status === 'blocked')
  );
}
