import type { AccountRecord } from './account-record';
import { TokenStore } from './token.store';

/** Accounts kept in this process only (`settings.oauth.token_store: ""`): a restart forgets them. */
export class InMemoryTokenStore extends TokenStore {
  protected readonly accounts = new Map<string, AccountRecord>();

  open(): Promise<void> {
    return Promise.resolve();
  }

  list(): Promise<AccountRecord[]> {
    return Promise.resolve([...this.accounts.values()]);
  }

  get(email: string): Promise<AccountRecord | undefined> {
    return Promise.resolve(this.accounts.get(email));
  }

  async put(record: AccountRecord): Promise<void> {
    this.accounts.set(record.email, record);
    await this.persist();
  }

  async replaceTokens(email: string, expectedRefreshToken: string, next: AccountRecord): Promise<boolean> {
    if (this.accounts.get(email)?.refreshToken !== expectedRefreshToken) return false;
    this.accounts.set(email, next);
    await this.persist();
    return true;
  }

  async delete(email: string): Promise<boolean> {
    const existed = this.accounts.delete(email);
    if (existed) await this.persist();
    return existed;
  }

  async clear(): Promise<number> {
    const count = this.accounts.size;
    this.accounts.clear();
    if (count > 0) await this.persist();
    return count;
  }

  /** Where a durable subclass writes; called after every change, in order. */
  protected persist(): Promise<void> {
    return Promise.resolve();
  }
}
