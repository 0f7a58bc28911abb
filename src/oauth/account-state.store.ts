import type { UsageWindow } from './account-answer';

export interface Park {
  readonly until: number;
  readonly reason: string;
}

/** What is known of an account's health from its recent answers; separate from any provider's health. */
export interface AccountState {
  /** The whole account rests until then (a 5h or 7d window exhausted). */
  readonly parked: Park | null;
  /** Model families resting on a scoped weekly window. */
  readonly familyParks: Readonly<Record<string, Park>>;
  /** A short rest after a throttle without window headers. */
  readonly throttledUntil: number | null;
  readonly windows: { readonly '5h'?: UsageWindow; readonly '7d'?: UsageWindow };
  readonly lastError: string | null;
  /** Something the operator should see that is not an error of the account's (e.g. answers drawing on extra usage). */
  readonly notice: string | null;
  /** A refresh that failed for a reason that passes (429, 5xx) is not tried again before this. */
  readonly refreshRetryAt: number | null;
  readonly lastUsedAt: number | null;
}

export type AccountStatePatch = Partial<Omit<AccountState, 'familyParks'>> & {
  /** Merged into the family parks by family. */
  readonly familyParks?: Readonly<Record<string, Park>>;
};

export const EMPTY_ACCOUNT_STATE: AccountState = {
  parked: null,
  familyParks: {},
  throttledUntil: null,
  windows: {},
  lastError: null,
  notice: null,
  refreshRetryAt: null,
  lastUsedAt: null,
};

/**
 * Accounts' health, by email. Reads are synchronous (every request chooses an account), writes asynchronous, like
 * the provider HealthStore, so that a shared backend answers from a local mirror. A park ends by itself when its
 * time comes: no job and no probe brings the account back.
 */
export abstract class AccountStateStore {
  abstract snapshot(email: string): AccountState;
  abstract update(email: string, patch: AccountStatePatch): Promise<void>;
  abstract forget(email: string): Promise<void>;
}

export class InMemoryAccountStateStore extends AccountStateStore {
  private readonly states = new Map<string, AccountState>();

  snapshot(email: string): AccountState {
    return this.states.get(email) ?? EMPTY_ACCOUNT_STATE;
  }

  update(email: string, patch: AccountStatePatch): Promise<void> {
    const current = this.snapshot(email);
    this.states.set(email, {
      ...current,
      ...patch,
      familyParks: patch.familyParks ? { ...current.familyParks, ...patch.familyParks } : current.familyParks,
    });
    return Promise.resolve();
  }

  forget(email: string): Promise<void> {
    this.states.delete(email);
    return Promise.resolve();
  }
}
