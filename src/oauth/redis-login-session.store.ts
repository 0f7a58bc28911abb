import { GatewayError } from '../common/gateway-error';
import type { StateBackend } from '../state/redis/state-backend';
import { LOGIN_LIFETIME_MS, LoginSessionStore, type PendingLogin } from './login-session.store';

/**
 * Pending logins in Redis, so that a login started on one replica can be finished on another: each lives ten minutes
 * (the key's own expiry) and is taken with GETDEL, so two replicas can never both use it.
 */
export class RedisLoginSessionStore extends LoginSessionStore {
  constructor(private readonly backend: StateBackend) {
    super();
  }

  async save(login: PendingLogin): Promise<void> {
    await this.command(() =>
      this.backend.redis.set(this.key(login.state), JSON.stringify(login), 'PX', LOGIN_LIFETIME_MS),
    );
  }

  async take(state: string): Promise<PendingLogin | undefined> {
    const text = await this.command(() => this.backend.redis.getdel(this.key(state)));
    return text ? (JSON.parse(text) as PendingLogin) : undefined;
  }

  async takeSole(): Promise<PendingLogin | undefined> {
    const keys = await this.backend.scan('oauth:login:*');
    if (keys.length !== 1) return undefined;
    return this.take(keys[0]!.slice('oauth:login:'.length));
  }

  /** A login cannot be kept anywhere else: while Redis is away the admin is told to try again. */
  private async command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new GatewayError(
        503,
        'overloaded_error',
        'The shared state backend (Redis) does not answer; try the login again in a moment.',
        {},
        { cause: error },
      );
    }
  }

  private key(state: string): string {
    return `oauth:login:${state}`;
  }
}
