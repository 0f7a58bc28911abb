import { Injectable, Logger } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import { MetricsService } from '../metrics/metrics.service';
import type { AccountRecord } from './account-record';
import { AccountStateStore } from './account-state.store';
import { TokenEndpointClient, TokenEndpointError } from './token-endpoint.client';
import { TokenStore } from './token.store';
import { LocalRefreshLock, RefreshLock } from './refresh-lock';

const DEFAULT_BACKOFF_MS = 60_000;

/**
 * Refreshes accounts' tokens, one refresh at a time per account: concurrent callers share the one in flight, and
 * replicas that share the tokens take a shared lock. The stored record is read again first, and a refresh someone
 * else already made is used instead of spending the rotating refresh token twice. The rotated pair is stored
 * (compare-and-set on the old refresh token) before anyone uses the new access token. A refused refresh marks the
 * account for a new login only while the refused token is still the stored one; a throttled or failing token
 * endpoint backs off and leaves a still-valid token in use.
 */
@Injectable()
export class AccountRefresher {
  private readonly logger = new Logger('OAuth');
  private readonly inFlight = new Map<string, Promise<AccountRecord | undefined>>();

  constructor(
    private readonly tokens: TokenStore,
    private readonly states: AccountStateStore,
    private readonly endpoint: TokenEndpointClient,
    private readonly metrics: MetricsService,
    private readonly active: ActiveConfig,
    private readonly lock: RefreshLock = new LocalRefreshLock(),
  ) {}

  /**
   * The account with a token good for at least the refresh margin, refreshed when needed. `seen` is the refresh token
   * the caller's copy had: when the store has another, someone refreshed meanwhile and that is used. `force` refreshes
   * even a token that looks fresh (the upstream said it expired). Throws TokenEndpointError when the endpoint failed
   * for a reason that passes.
   */
  refresh(email: string, options: { seen?: string; force?: boolean } = {}): Promise<AccountRecord | undefined> {
    const running = this.inFlight.get(email);
    if (running) return running;
    const started = this.lock.around(email, () => this.run(email, options)).finally(() => this.inFlight.delete(email));
    this.inFlight.set(email, started);
    return started;
  }

  private async run(
    email: string,
    { seen, force }: { seen?: string; force?: boolean },
  ): Promise<AccountRecord | undefined> {
    const record = await this.tokens.get(email);
    if (!record || record.status !== 'ok') return record;
    const now = Date.now();
    const margin = this.active.runtime.config.settings.oauth.refreshMarginMs;
    if (seen !== undefined && record.refreshToken !== seen) return record;
    if (!force && record.expiresAt - now > margin) return record;
    const retryAt = this.states.snapshot(email).refreshRetryAt;
    if (retryAt !== null && retryAt > now) {
      throw new TokenEndpointError('unavailable', `refresh deferred until ${new Date(retryAt).toISOString()}`);
    }
    try {
      const answer = await this.endpoint.refresh(record.refreshToken);
      const next: AccountRecord = {
        ...record,
        accessToken: answer.accessToken,
        refreshToken: answer.refreshToken ?? record.refreshToken,
        expiresAt: answer.expiresAt,
        scopes: answer.scopes ?? record.scopes,
        lastRefreshAt: Date.now(),
      };
      if (!(await this.tokens.replaceTokens(email, record.refreshToken, next))) {
        // Another writer rotated the token while this refresh ran; its pair is the live one.
        return this.tokens.get(email);
      }
      this.metrics.oauthRefreshes.labels(email, 'success').inc();
      this.metrics.oauthTokenExpiry.labels(email).set(Math.round((next.expiresAt - Date.now()) / 1000));
      await this.states.update(email, { refreshRetryAt: null });
      this.logger.log(`Account ${email}: token refreshed, valid until ${new Date(next.expiresAt).toISOString()}`);
      return next;
    } catch (error) {
      if (!(error instanceof TokenEndpointError)) throw error;
      if (error.final) return this.markRefused(record, error);
      const wait = error.retryAfterMs ?? DEFAULT_BACKOFF_MS;
      this.metrics.oauthRefreshes.labels(email, error.kind === 'rate_limited' ? 'rate_limited' : 'error').inc();
      await this.states.update(email, { refreshRetryAt: Date.now() + wait, lastError: `refresh: ${error.message}` });
      this.logger.warn(`Account ${email}: refresh failed (${error.message}); next try in ${Math.round(wait / 1000)}s`);
      throw error;
    }
  }

  private async markRefused(record: AccountRecord, error: TokenEndpointError): Promise<AccountRecord | undefined> {
    this.metrics.oauthRefreshes.labels(record.email, 'invalid_grant').inc();
    const current = await this.tokens.get(record.email);
    // Only the refused token's owner is dead: a newer token (a login meanwhile, another replica's refresh) lives on.
    if (!current || current.refreshToken !== record.refreshToken) return current;
    const status = error.kind === 'blocked' ? 'blocked' : 'needs_login';
    const marked: AccountRecord = { ...current, status, statusReason: error.message };
    if (!(await this.tokens.replaceTokens(record.email, record.refreshToken, marked))) {
      return this.tokens.get(record.email);
    }
    this.logger.warn(`Account ${record.email}: ${status} (${error.message})`);
    return marked;
  }
}
