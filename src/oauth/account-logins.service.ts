import { Injectable, Logger } from '@nestjs/common';
import { GatewayError } from '../common/gateway-error';
import { ActiveConfig } from '../config/active-config';
import { type AccountRecord, normaliseEmail } from './account-record';
import { AccountStateStore } from './account-state.store';
import { LoginSessionStore } from './login-session.store';
import { type LoginStart, splitPastedCode, startLogin } from './pkce';
import { type TokenAnswer, TokenEndpointClient, TokenEndpointError } from './token-endpoint.client';
import { TokenStore } from './token.store';

interface ClaudeCodeCredentials {
  claudeAiOauth?: {
    accessToken?: unknown;
    refreshToken?: unknown;
    expiresAt?: unknown;
    scopes?: unknown;
    subscriptionType?: unknown;
  };
}

/** Adding accounts: the PKCE login (start, then the pasted code), and Claude Code's own credentials file. */
@Injectable()
export class AccountLogins {
  private readonly logger = new Logger('OAuth');

  constructor(
    private readonly tokens: TokenStore,
    private readonly logins: LoginSessionStore,
    private readonly states: AccountStateStore,
    private readonly endpoint: TokenEndpointClient,
    private readonly active: ActiveConfig,
  ) {}

  async start(): Promise<LoginStart> {
    const login = startLogin(this.active.runtime.config.settings.oauth);
    await this.logins.save({ state: login.state, verifier: login.verifier, createdAt: Date.now() });
    return login;
  }

  /** Exchanges a pasted `code#state` (or a code and its state) and stores the account. */
  async finish(pasted: string, givenState?: string, emailHint?: string): Promise<AccountRecord> {
    const { code, state } = splitPastedCode(pasted, givenState || undefined);
    if (!code)
      throw GatewayError.invalidRequest('code: paste the whole code Claude showed (it looks like CODE#STATE).');
    const login = state ? await this.logins.take(state) : await this.logins.takeSole();
    if (!login) {
      throw GatewayError.invalidRequest(
        'This login is unknown, expired (logins last 10 minutes) or already used: start a new one at /oauth/authorize.',
      );
    }
    let answer: TokenAnswer;
    try {
      answer = await this.endpoint.exchangeCode(code, login.state, login.verifier);
    } catch (error) {
      throw exchangeError(error);
    }
    return this.store(answer, emailHint);
  }

  /** Adds the account of a Claude Code `.credentials.json`; its email comes from the profile endpoint, or `email`. */
  async import(document: unknown, emailHint?: string): Promise<AccountRecord> {
    const oauth = (document as ClaudeCodeCredentials | null)?.claudeAiOauth;
    if (typeof oauth?.accessToken !== 'string' || typeof oauth.refreshToken !== 'string') {
      throw GatewayError.invalidRequest(
        'claudeAiOauth: send the JSON of ~/.claude/.credentials.json, with accessToken and refreshToken.',
      );
    }
    const expiresAt = typeof oauth.expiresAt === 'number' ? oauth.expiresAt : Date.now();
    const scopes = Array.isArray(oauth.scopes) ? oauth.scopes.filter((s): s is string => typeof s === 'string') : [];
    const plan = typeof oauth.subscriptionType === 'string' ? `claude_${oauth.subscriptionType}` : undefined;
    return this.store(
      { accessToken: oauth.accessToken, refreshToken: oauth.refreshToken, expiresAt, scopes },
      emailHint,
      plan,
    );
  }

  private async store(answer: TokenAnswer, emailHint?: string, planHint?: string): Promise<AccountRecord> {
    if (!answer.refreshToken) throw new GatewayError(502, 'api_error', 'The token endpoint gave no refresh token.');
    const profile = await this.endpoint.profile(answer.accessToken);
    const email = answer.email ?? profile?.email ?? emailHint;
    if (!email) {
      throw GatewayError.invalidRequest(
        "The account's email could not be learned from Claude: send it as account_email (or email) with the request.",
      );
    }
    const record: AccountRecord = {
      email: normaliseEmail(email),
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken,
      expiresAt: answer.expiresAt,
      scopes: answer.scopes ?? this.active.runtime.config.settings.oauth.scopes.split(/\s+/),
      plan: profile?.plan ?? planHint,
      accountUuid: answer.accountUuid ?? profile?.accountUuid,
      organization: answer.organization ?? profile?.organization,
      status: 'ok',
      addedAt: Date.now(),
    };
    await this.tokens.put(record);
    // A new login clears what the old credentials earned: a park or a throttle was the old session's.
    await this.states.forget(record.email);
    this.logger.log(`Account ${record.email} logged in${record.plan ? ` (${record.plan})` : ''}`);
    return record;
  }
}

function exchangeError(error: unknown): GatewayError {
  if (error instanceof TokenEndpointError) {
    if (error.kind === 'invalid_grant') {
      return GatewayError.invalidRequest(`Claude refused the code (${error.message}); start a new login.`);
    }
    const headers: Record<string, string> = error.retryAfterMs
      ? { 'retry-after': String(Math.ceil(error.retryAfterMs / 1000)) }
      : {};
    return new GatewayError(502, 'api_error', `The login could not be finished: ${error.message}`, headers);
  }
  return new GatewayError(502, 'api_error', `The login could not be finished: ${(error as Error).message}`);
}
