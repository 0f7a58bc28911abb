import type { AccountRecord } from './account-record';

/** The stored file or backend cannot be read as accounts: startup stops rather than overwrite it. */
export class TokenStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenStoreError';
  }
}

/**
 * The Claude accounts and their tokens. Writes are durable before they resolve, so a rotated refresh token is kept
 * before the access token that came with it is used. `replaceTokens` is a compare-and-set on the refresh token: a
 * refresh that lost a race (someone else rotated first) cannot write its stale pair over the fresh one.
 */
export abstract class TokenStore {
  /** Reads what is stored; throws TokenStoreError when it is unreadable or corrupt. */
  abstract open(): Promise<void>;
  abstract list(): Promise<AccountRecord[]>;
  abstract get(email: string): Promise<AccountRecord | undefined>;
  /** Adds the account, or replaces it whole (a new login). */
  abstract put(record: AccountRecord): Promise<void>;
  /** Replaces the account only while its refresh token is still `expectedRefreshToken`; false when it was not. */
  abstract replaceTokens(email: string, expectedRefreshToken: string, next: AccountRecord): Promise<boolean>;
  abstract delete(email: string): Promise<boolean>;
  abstract clear(): Promise<number>;
}
