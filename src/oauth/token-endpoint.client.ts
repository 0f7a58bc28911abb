import { Agent, type Dispatcher, ProxyAgent, request } from 'undici';
import type { OAuthSettings } from '../config/gateway-config';
import { retryAfterMs } from '../providers/upstream-failure';

export interface TokenAnswer {
  readonly accessToken: string;
  /** Absent when the endpoint did not rotate it: the old one stays valid. */
  readonly refreshToken?: string;
  readonly expiresAt: number;
  readonly scopes?: readonly string[];
  readonly email?: string;
  readonly accountUuid?: string;
  readonly organization?: string;
}

export interface AccountProfile {
  readonly email?: string;
  readonly plan?: string;
  readonly accountUuid?: string;
  readonly organization?: string;
}

/** Why the token endpoint refused or failed; `retryAfterMs` when it said when to come back. */
export type TokenFailureKind = 'invalid_grant' | 'revoked' | 'blocked' | 'rate_limited' | 'unavailable';

export class TokenEndpointError extends Error {
  constructor(
    readonly kind: TokenFailureKind,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TokenEndpointError';
  }

  /** The account cannot refresh any more: someone has to log it in again. */
  get final(): boolean {
    return this.kind === 'invalid_grant' || this.kind === 'revoked' || this.kind === 'blocked';
  }
}

const TIMEOUT_MS = 20_000;

/**
 * Claude's OAuth token endpoint (authorization-code and refresh grants, JSON bodies) and the profile endpoint, through
 * `settings.oauth.proxy` when one is set. Every URL comes from the settings: the token host has moved before. Error
 * messages carry the endpoint's own description, never a token.
 */
export class TokenEndpointClient {
  private readonly direct = new Agent({ connect: { timeout: TIMEOUT_MS } });
  private proxied: { url: string; agent: ProxyAgent } | undefined;

  constructor(private readonly settings: () => OAuthSettings) {}

  async exchangeCode(code: string, state: string, verifier: string): Promise<TokenAnswer> {
    const { clientId, redirectUri } = this.settings();
    return this.grant({
      grant_type: 'authorization_code',
      code,
      state,
      client_id: clientId,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    });
  }

  async refresh(refreshToken: string): Promise<TokenAnswer> {
    const { clientId, scopes } = this.settings();
    return this.grant({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId, scope: scopes });
  }

  /** The account's email and plan; undefined when the profile endpoint cannot say. */
  async profile(accessToken: string): Promise<AccountProfile | undefined> {
    const settings = this.settings();
    try {
      const response = await request(settings.profileUrl, {
        method: 'GET',
        headers: {
          authorization: `Bearer ${accessToken}`,
          'anthropic-beta': 'oauth-2025-04-20',
          accept: 'application/json',
        },
        dispatcher: this.dispatcher(settings),
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
      const body = (await response.body.json().catch(() => undefined)) as ProfileBody | undefined;
      if (response.statusCode !== 200 || !body) return undefined;
      return {
        email: body.account?.email ?? body.account?.email_address,
        plan: body.organization?.organization_type,
        accountUuid: body.account?.uuid,
        organization: body.organization?.name ?? body.organization?.uuid,
      };
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.direct.close(), this.proxied?.agent.close()]);
  }

  private async grant(body: Record<string, string>): Promise<TokenAnswer> {
    const settings = this.settings();
    let response: Dispatcher.ResponseData;
    try {
      response = await request(settings.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        dispatcher: this.dispatcher(settings),
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
    } catch (error) {
      throw new TokenEndpointError(
        'unavailable',
        `the token endpoint could not be reached: ${(error as Error).message}`,
      );
    }
    const text = await response.body.text().catch(() => '');
    const parsed = parseObject(text);
    if (response.statusCode === 200 && typeof parsed?.access_token === 'string') return toAnswer(parsed);
    throw refusal(response.statusCode, parsed, text, retryAfterMs(response.headers));
  }

  private dispatcher(settings: OAuthSettings): Dispatcher {
    if (!settings.proxy) return this.direct;
    if (this.proxied?.url !== settings.proxy) {
      void this.proxied?.agent.close();
      this.proxied = { url: settings.proxy, agent: new ProxyAgent({ uri: settings.proxy }) };
    }
    return this.proxied.agent;
  }
}

interface ProfileBody {
  account?: { uuid?: string; email?: string; email_address?: string };
  organization?: { uuid?: string; name?: string; organization_type?: string };
}

interface TokenBody {
  access_token?: unknown;
  refresh_token?: unknown;
  expires_in?: unknown;
  scope?: unknown;
  account?: { uuid?: unknown; email_address?: unknown; email?: unknown };
  organization?: { uuid?: unknown; name?: unknown };
  error?: unknown;
  error_description?: unknown;
}

function toAnswer(body: TokenBody): TokenAnswer {
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600;
  const email = body.account?.email_address ?? body.account?.email;
  return {
    accessToken: body.access_token as string,
    refreshToken: typeof body.refresh_token === 'string' && body.refresh_token ? body.refresh_token : undefined,
    expiresAt: Date.now() + expiresIn * 1000,
    scopes: typeof body.scope === 'string' ? body.scope.split(/\s+/).filter(Boolean) : undefined,
    email: typeof email === 'string' ? email : undefined,
    accountUuid: typeof body.account?.uuid === 'string' ? body.account.uuid : undefined,
    organization: typeof body.organization?.name === 'string' ? body.organization.name : undefined,
  };
}

function refusal(status: number, body: TokenBody | undefined, text: string, retryAfter?: number): TokenEndpointError {
  const code = typeof body?.error === 'string' ? body.error : undefined;
  const description =
    typeof body?.error_description === 'string'
      ? body.error_description
      : typeof (body?.error as { message?: unknown } | undefined)?.message === 'string'
        ? (body!.error as { message: string }).message
        : text.slice(0, 200);
  const message = `the token endpoint answered ${status}${code ? ` ${code}` : ''}${description ? `: ${description.slice(0, 200)}` : ''}`;
  if (status === 429) return new TokenEndpointError('rate_limited', message, retryAfter);
  if (status >= 500 || status === 408) return new TokenEndpointError('unavailable', message, retryAfter);
  if (/organization.*(disabled|not allowed)/i.test(description)) return new TokenEndpointError('blocked', message);
  if (status === 403 || /revoked/i.test(description)) return new TokenEndpointError('revoked', message);
  if (code === 'invalid_grant' || status === 400 || status === 401) {
    return new TokenEndpointError('invalid_grant', message);
  }
  return new TokenEndpointError('unavailable', message, retryAfter);
}

function parseObject(text: string): TokenBody | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}
