/** A login started by /oauth/authorize and not yet finished: its PKCE verifier, kept by its state. */
export interface PendingLogin {
  readonly state: string;
  readonly verifier: string;
  readonly createdAt: number;
}

export const LOGIN_LIFETIME_MS = 10 * 60 * 1000;

/**
 * Pending logins, each used at most once and for at most ten minutes. A shared backend lets a login started on one
 * replica finish on another.
 */
export abstract class LoginSessionStore {
  abstract save(login: PendingLogin): Promise<void>;
  /** The login for `state`, removed so that it cannot be used twice; undefined when unknown, used or expired. */
  abstract take(state: string): Promise<PendingLogin | undefined>;
  /** The one pending login when exactly one is pending (the seed's paste without `#state`), removed. */
  abstract takeSole(): Promise<PendingLogin | undefined>;
}

export class InMemoryLoginSessionStore extends LoginSessionStore {
  private readonly logins = new Map<string, PendingLogin>();

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  save(login: PendingLogin): Promise<void> {
    this.sweep();
    this.logins.set(login.state, login);
    return Promise.resolve();
  }

  take(state: string): Promise<PendingLogin | undefined> {
    const login = this.logins.get(state);
    this.logins.delete(state);
    return Promise.resolve(login && this.now() - login.createdAt <= LOGIN_LIFETIME_MS ? login : undefined);
  }

  takeSole(): Promise<PendingLogin | undefined> {
    this.sweep();
    if (this.logins.size !== 1) return Promise.resolve(undefined);
    const [state] = this.logins.keys();
    return this.take(state!);
  }

  private sweep(): void {
    for (const [state, login] of this.logins) {
      if (this.now() - login.createdAt > LOGIN_LIFETIME_MS) this.logins.delete(state);
    }
  }
}
