import { Injectable, Logger } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import type { ClientConfig, ProviderConfig } from '../config/gateway-config';
import type { PlannedAttempt } from '../routing/candidate-selector';
import { FairShare, type ShareStanding } from './fair-share';
import type { MessageRequest } from '../messages/message-request';
import { MetricsService } from '../metrics/metrics.service';
import type { Credential } from '../providers/upstream-headers';
import { SelectionStore } from '../state/selection.store';
import { type AccountAnswer, modelFamily, readUnifiedLimits } from './account-answer';
import type { AccountRecord } from './account-record';
import { AccountRefresher } from './account-refresher';
import { type AccountState, AccountStateStore } from './account-state.store';
import { refreshBlockedUntil, tokenUsable } from './token-expiry';
import { TokenStore } from './token.store';

export const OAUTH_BETA = 'oauth-2025-04-20';
export const ACCOUNT_SESSION_STICKY_MS = 60 * 60 * 1000;
const EXTRA_USAGE_REST_MS = 60_000;

/** One account chosen for one attempt, with the credential to send. */
export interface AccountLease {
  readonly ok: true;
  readonly provider: string;
  readonly email: string;
  /** The refresh token of the record the credential came from: what a refresh after a 401 compares against. */
  readonly refreshToken: string;
  readonly credential: Credential;
}

export interface NoAccount {
  readonly ok: false;
  readonly reason: string;
}

/** What to do after an account's answer: try it again (after a refresh), or move on to another account. */
export type AccountVerdict = 'retry' | 'next' | 'done';

/**
 * The pool of Claude subscription accounts behind `auth_type: oauth` providers: which account serves a request (the
 * one the provider pins, those the client may use, the session's own when it still can, else the least used), and what
 * an account's answer does to it (windows, parks, throttles, a refresh, a new login needed).
 */
@Injectable()
export class AccountService {
  private readonly logger = new Logger('OAuth');

  constructor(
    private readonly tokens: TokenStore,
    private readonly states: AccountStateStore,
    private readonly refresher: AccountRefresher,
    private readonly selection: SelectionStore,
    private readonly metrics: MetricsService,
    private readonly active: ActiveConfig,
    private readonly fairShare: FairShare,
  ) {}

  /**
   * The attempts with each subscription provider on which `client` is past its fair share of every account it could
   * use moved after the others (order kept otherwise); fairness reorders, it never removes a candidate.
   */
  async fairOrder(
    attempts: readonly PlannedAttempt[],
    request: Pick<MessageRequest, 'client' | 'model'>,
  ): Promise<{ readonly attempts: readonly PlannedAttempt[]; readonly demoted: readonly string[] }> {
    if (!this.fairShare.enabled || !request.client) return { attempts, demoted: [] };
    const demoted = new Set<PlannedAttempt>();
    for (const attempt of attempts) {
      if (attempt.provider.authType !== 'oauth') continue;
      const usable = (await this.candidates(attempt.provider, request)).filter(
        (record) => this.ineligibility(record, request.model) === undefined,
      );
      if (usable.length > 0 && usable.every((record) => this.fairShare.standing(record.email, request.client).over)) {
        demoted.add(attempt);
      }
    }
    if (demoted.size === 0 || demoted.size === attempts.length) return { attempts, demoted: [] };
    return {
      attempts: [...attempts.filter((a) => !demoted.has(a)), ...attempts.filter((a) => demoted.has(a))],
      demoted: [...demoted].map((a) => a.provider.name),
    };
  }

  /** Where `client` stands on an account's windows (for /providers/route). */
  standing(email: string, client: ClientConfig | undefined): ShareStanding {
    return this.fairShare.standing(email, client);
  }

  /** Why `record` cannot serve a request for `model` now, or undefined when it can. */
  ineligibility(record: AccountRecord, model: string, now = Date.now()): string | undefined {
    if (record.status !== 'ok') return `${record.status}${record.statusReason ? `: ${record.statusReason}` : ''}`;
    const state = this.states.snapshot(record.email);
    if (state.parked && state.parked.until > now) return `parked: ${state.parked.reason}`;
    const family = state.familyParks[modelFamily(model)];
    if (family && family.until > now) return `parked for ${modelFamily(model)}: ${family.reason}`;
    if (state.throttledUntil !== null && state.throttledUntil > now) {
      return `throttled until ${new Date(state.throttledUntil).toISOString()}`;
    }
    const blocked = refreshBlockedUntil(record, state, now);
    if (blocked !== undefined) {
      return `token expired and the token endpoint is backing off until ${new Date(blocked).toISOString()}`;
    }
    return undefined;
  }

  /** The accounts a request on `provider` may use, by email, before health: the pinned one or all, within the client's. */
  async candidates(provider: ProviderConfig, request: Pick<MessageRequest, 'client'>): Promise<AccountRecord[]> {
    const all = await this.tokens.list();
    const pinned = provider.accountEmail?.toLowerCase();
    const allowed = request.client?.oauthAccounts;
    return all.filter(
      (record) => (pinned === undefined || record.email === pinned) && (!allowed || allowed.includes(record.email)),
    );
  }

  /** Chooses an account for one attempt, refreshing its token first when it is close to expiry. */
  async lease(
    provider: ProviderConfig,
    request: MessageRequest,
    excluded: ReadonlySet<string>,
  ): Promise<AccountLease | NoAccount> {
    const candidates = await this.candidates(provider, request);
    if (candidates.length === 0) return { ok: false, reason: this.noCandidateReason(provider, request) };
    const now = Date.now();
    const reasons: string[] = [];
    const eligible = candidates.filter((record) => {
      if (excluded.has(record.email)) return false;
      const why = this.ineligibility(record, request.model, now);
      if (why) reasons.push(`${record.email}: ${why}`);
      return why === undefined;
    });
    for (const record of await this.ordered(provider, request, eligible)) {
      const fresh = await this.withFreshToken(record, reasons);
      if (!fresh) continue;
      if (request.sessionId) void this.selection.stick(this.stickyKey(provider, request.sessionId), fresh.email);
      void this.states.update(fresh.email, { lastUsedAt: now });
      return {
        ok: true,
        provider: provider.name,
        email: fresh.email,
        refreshToken: fresh.refreshToken,
        credential: { header: 'authorization', value: `Bearer ${fresh.accessToken}`, betas: [OAUTH_BETA] },
      };
    }
    const tried = excluded.size > 0 ? [`${excluded.size} already tried for this request`] : [];
    return { ok: false, reason: `no Claude account can serve it (${[...reasons, ...tried].join('; ') || 'none'})` };
  }

  /** Reads an answer's usage windows into the account's state and metrics. */
  async observe(lease: AccountLease, headers: Record<string, string | string[] | undefined>): Promise<void> {
    const limits = readUnifiedLimits(headers);
    if (!limits) return;
    for (const [window, value] of Object.entries(limits.windows)) {
      this.metrics.accountWindowUtilization.labels(lease.email, window).set(value.utilization);
    }
    const previous = this.states.snapshot(lease.email);
    await this.states.update(lease.email, { windows: { ...previous.windows, ...limits.windows }, lastError: null });
  }

  /** Applies what an account's error answer means to the account; says whether to retry it or move on. */
  async settle(lease: AccountLease, answer: AccountAnswer, model: string, retried: boolean): Promise<AccountVerdict> {
    const { email } = lease;
    switch (answer.kind) {
      case 'provider':
        return 'done';
      case 'expired':
      case 'invalid_token': {
        if (retried) {
          await this.markStatus(
            lease,
            'needs_login',
            answer.kind === 'expired' ? 'the token keeps expiring' : answer.reason,
          );
          return 'next';
        }
        try {
          const refreshed = await this.refresher.refresh(email, { seen: lease.refreshToken, force: true });
          return refreshed?.status === 'ok' ? 'retry' : 'next';
        } catch {
          return 'next';
        }
      }
      case 'revoked':
        await this.markStatus(lease, 'needs_login', answer.reason);
        return 'next';
      case 'blocked':
        await this.markStatus(lease, 'blocked', answer.reason);
        return 'next';
      case 'park': {
        const park = { until: answer.until, reason: answer.reason };
        await this.states.update(
          email,
          answer.familyOnly ? { familyParks: { [modelFamily(model)]: park } } : { parked: park },
        );
        this.logger.warn(
          `Account ${email}: parked${answer.familyOnly ? ` for ${modelFamily(model)}` : ''} (${answer.reason})`,
        );
        return 'next';
      }
      case 'throttle':
        await this.states.update(email, { throttledUntil: answer.until, lastError: answer.reason });
        return 'next';
      case 'extra_usage':
        await this.states.update(email, {
          notice: answer.reason,
          throttledUntil: Date.now() + EXTRA_USAGE_REST_MS,
        });
        this.logger.warn(`Account ${email}: ${answer.reason}`);
        return 'next';
      case 'not_claude_code':
        return 'done';
    }
  }

  state(email: string): AccountState {
    return this.states.snapshot(email);
  }

  private async withFreshToken(record: AccountRecord, reasons: string[]): Promise<AccountRecord | undefined> {
    const margin = this.active.runtime.config.settings.oauth.refreshMarginMs;
    if (record.expiresAt - Date.now() > margin) return record;
    try {
      const fresh = await this.refresher.refresh(record.email, { seen: record.refreshToken });
      if (fresh?.status === 'ok' && tokenUsable(fresh, Date.now())) return fresh;
      reasons.push(
        `${record.email}: ${fresh?.status ?? 'forgotten'}${fresh?.statusReason ? ` (${fresh.statusReason})` : ''}`,
      );
      return undefined;
    } catch (error) {
      // The endpoint failed for a reason that passes: a token that is still valid keeps serving meanwhile.
      if (tokenUsable(record, Date.now())) return record;
      reasons.push(`${record.email}: token expired and refresh failed (${(error as Error).message})`);
      return undefined;
    }
  }

  /**
   * The session's own account first while its windows have room (or until its next turn), then accounts below the
   * switch threshold, least used first, then the rest.
   */
  private async ordered(
    provider: ProviderConfig,
    request: MessageRequest,
    eligible: AccountRecord[],
  ): Promise<AccountRecord[]> {
    const threshold = this.active.runtime.config.settings.oauth.switchAtUtilization;
    const fullness = (record: AccountRecord) => {
      const { windows } = this.states.snapshot(record.email);
      return Math.max(windows['5h']?.utilization ?? 0, windows['7d']?.utilization ?? 0);
    };
    const lastUsed = (record: AccountRecord) => this.states.snapshot(record.email).lastUsedAt ?? 0;
    // Accounts on which this teammate is past its fair share come after the others.
    const over = (record: AccountRecord) => Number(this.fairShare.standing(record.email, request.client).over);
    const byPreference = [...eligible].sort((a, b) => {
      const unfair = over(a) - over(b);
      if (unfair !== 0) return unfair;
      const full = Number(fullness(a) >= threshold) - Number(fullness(b) >= threshold);
      return full !== 0 ? full : fullness(a) - fullness(b) || lastUsed(a) - lastUsed(b);
    });
    if (!request.sessionId) return byPreference;
    const stuck = await this.selection.stickyChoice(
      this.stickyKey(provider, request.sessionId),
      ACCOUNT_SESSION_STICKY_MS,
    );
    const own = byPreference.find((record) => record.email === stuck);
    if (!own) return byPreference;
    const rest = byPreference.filter((record) => record !== own);
    // Moving a session mid-turn (in the middle of a tool loop) would cost its prompt cache for nothing.
    if (fullness(own) >= threshold && rest.some((r) => fullness(r) < threshold) && startsTurn(request)) {
      return [...rest, own];
    }
    return [own, ...rest];
  }

  private async markStatus(lease: AccountLease, status: 'needs_login' | 'blocked', reason: string): Promise<void> {
    const current = await this.tokens.get(lease.email);
    if (!current || current.refreshToken !== lease.refreshToken) return;
    const marked: AccountRecord = { ...current, status, statusReason: reason };
    if (await this.tokens.replaceTokens(lease.email, lease.refreshToken, marked)) {
      this.logger.warn(`Account ${lease.email}: ${status} (${reason})`);
    }
  }

  private noCandidateReason(provider: ProviderConfig, request: Pick<MessageRequest, 'client'>): string {
    if (provider.accountEmail) return `the account ${provider.accountEmail} is not logged in`;
    if (request.client?.oauthAccounts) {
      return `none of the client's accounts (${request.client.oauthAccounts.join(', ')}) is logged in`;
    }
    return 'no Claude account is logged in (see /oauth/authorize)';
  }

  private stickyKey(provider: ProviderConfig, sessionId: string): string {
    return `oauth:${provider.name}:${sessionId}`;
  }
}

/** The request opens a new turn (the last message is the user's own words, not a tool result). */
function startsTurn(request: MessageRequest): boolean {
  try {
    const messages = request.body.value('messages');
    const last = Array.isArray(messages) ? (messages.at(-1) as { role?: unknown; content?: unknown }) : undefined;
    if (last?.role !== 'user') return false;
    if (typeof last.content === 'string') return true;
    return Array.isArray(last.content) && !last.content.some((b) => (b as { type?: unknown })?.type === 'tool_result');
  } catch {
    return false;
  }
}
