/** What an account's credentials allow: `needs_login` and `blocked` last until someone logs the account in again. */
export type AccountStatus = 'ok' | 'needs_login' | 'blocked';

/** One stored Claude subscription account: its tokens and what is known of it. Emails are lower-cased. */
export interface AccountRecord {
  readonly email: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
  readonly scopes: readonly string[];
  /** `claude_max`, `claude_pro`, `claude_team`, `claude_enterprise`, when known. */
  readonly plan?: string;
  readonly accountUuid?: string;
  readonly organization?: string;
  readonly status: AccountStatus;
  readonly statusReason?: string;
  readonly addedAt: number;
  readonly lastRefreshAt?: number;
}

/** A few characters of a token and an ellipsis: enough to tell two apart, never enough to use. */
export function tokenPreview(token: string): string {
  return token.length <= 16 ? '…' : `${token.slice(0, 14)}…`;
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}
