/**
 * A fake Claude subscription (OAuth) authority for end-to-end tests: a real HTTP server on 127.0.0.1 (random port)
 * with Claude's paste-code authorize page, the token endpoint (authorization_code and refresh_token grants, JSON
 * bodies, rotating single-use refresh tokens, injectable faults) and the profile endpoint. It also knows what each
 * access token it issued is now, so the fake upstream can check bearer tokens against it:
 * `upstream.requireOAuth(tokens.upstreamCheck)`.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback } from './loopback';

/** Claude's organization_type values ('claude_max', 'claude_pro', 'claude_team', 'claude_enterprise'). */
export type FakePlan = string;

export interface AddAccountOptions {
  email: string;
  /** organization_type in the profile (default 'claude_max'). */
  plan?: FakePlan;
  /** Valid tokens of a disabled organization are refused by the upstream check (see upstreamCheck). */
  organizationDisabled?: boolean;
  accountUuid?: string;
  organizationUuid?: string;
  /** account.full_name in the profile (left out when not given). */
  fullName?: string;
  /** organization.rate_limit_tier in the profile (default 'default_claude_max_20x'). */
  rateLimitTier?: string;
}

export interface FakeOAuthAccount {
  readonly email: string;
  readonly plan: FakePlan;
  readonly organizationDisabled: boolean;
  readonly accountUuid: string;
  readonly organizationUuid: string;
  readonly organizationName: string;
  readonly fullName?: string;
  readonly rateLimitTier: string;
}

/** An injected answer for one token call, sent instead of the real one (the grant is not looked at). */
export interface TokenFault {
  status: number;
  /** A string is sent verbatim; anything else as JSON. Default: an OAuth error body naming the status. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface TokenCall {
  grant_type: string | undefined;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: unknown;
  /** Date.now() on arrival. */
  at: number;
  /** The status answered; undefined while the call is pending. */
  status?: number;
}

export type AccessTokenState = 'valid' | 'expired' | 'revoked' | 'unknown';

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  scope: string;
}

export interface FakeTokenEndpoint {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** `${url}/oauth/authorize` */
  readonly authorizeUrl: string;
  /** `${url}/v1/oauth/token` */
  readonly tokenUrl: string;
  /** `${url}/api/oauth/profile` */
  readonly profileUrl: string;
  /** `${url}/oauth/code/callback` (it serves the same CODE#STATE page for ?code&state). */
  readonly redirectUri: string;
  /** expires_in (seconds) of tokens issued from now on; default 28800. */
  expiresIn: number;
  /** Refresh answers leave out refresh_token; the refresh token used stays valid. Default false. */
  omitRefreshTokenOnRefresh: boolean;
  /** Wait before answering each token call (faults included); default 0. */
  delayMs: number;
  /** The query of the last GET /oauth/authorize, valid or not. */
  readonly lastAuthorize: Record<string, string> | undefined;
  /** Every POST /v1/oauth/token, in arrival order. */
  readonly calls: readonly TokenCall[];
  addAccount(options: AddAccountOptions): FakeOAuthAccount;
  /** The account the next authorizations log in as (default: the first added). */
  loginAs(email: string): void;
  setOrganizationDisabled(email: string, disabled: boolean): void;
  /** The next `times` token calls, whatever they ask, get this answer. Faults queue up in order. */
  failNext(fault: TokenFault, times?: number): void;
  /** Successful refresh_token grants for the account. */
  refreshes(email: string): number;
  /** Refuses the account's refresh tokens (invalid_grant) and revokes its access tokens; later logins work. */
  revoke(email: string): void;
  /** Mints a token pair without the authorize flow (e.g. to seed a token store). */
  issueTokens(email: string, options?: { expiresIn?: number; scope?: string; clientId?: string }): IssuedTokens;
  /** Marks the access tokens issued so far (of the account, or all) expired; newer ones are unaffected. */
  expireAccessTokens(email?: string): void;
  readonly tokenState: (accessToken: string) => AccessTokenState;
  readonly emailFor: (accessToken: string) => string | undefined;
  /** tokenState, but 'organization_disabled' for a valid token of a disabled organization (for requireOAuth). */
  readonly upstreamCheck: (accessToken: string) => AccessTokenState | 'organization_disabled';
  /** Back to a just-started endpoint (no accounts, tokens, calls or faults, default settings), same URL. */
  reset(): void;
  /** Closes the server and destroys all open sockets. */
  close(): Promise<void>;
}

/** The CODE#STATE a user copies from the authorize (or callback) page. */
export function pastedCodeFrom(html: string): string {
  const match = /id="code"[^>]*>([^<]*)</.exec(html);
  if (match?.[1] === undefined) throw new Error('no element with id="code" in the page');
  return match[1]
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

/** base64url(sha256(verifier)), the S256 code_challenge. */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

const DEFAULT_EXPIRES_IN = 28_800;
const DEFAULT_SCOPE = 'user:inference user:profile';
const DEFAULT_RATE_LIMIT_TIER = 'default_claude_max_20x';

type JsonObject = Record<string, unknown>;

interface Account {
  email: string;
  plan: FakePlan;
  organizationDisabled: boolean;
  accountUuid: string;
  organizationUuid: string;
  organizationName: string;
  fullName?: string;
  rateLimitTier: string;
  refreshes: number;
}

interface PendingCode {
  email: string;
  clientId: string;
  challenge: string;
  state: string;
  redirectUri: string;
  scope: string;
  used: boolean;
}

interface AccessRecord {
  email: string;
  expiresAt: number;
  expired: boolean;
  revoked: boolean;
}

interface RefreshRecord {
  email: string;
  clientId: string;
  scope: string;
  used: boolean;
  revoked: boolean;
}

interface Answer {
  status: number;
  /** A string is sent verbatim. */
  body: unknown;
  headers?: Record<string, string>;
}

function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(body: JsonObject, name: string): string | undefined {
  const value = body[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function codePage(pasted: string): string {
  return [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>Authentication Code</title></head><body>',
    '<h1>Authentication Code</h1>',
    '<p>Paste this into Claude Code:</p>',
    `<pre id="code">${escapeHtml(pasted)}</pre>`,
    '</body></html>',
  ].join('\n');
}

function oauthError(status: number, error: string, description: string): Answer {
  return { status, body: { error, error_description: description } };
}

function apiError(status: number, type: string, message: string): Answer {
  return { status, body: { type: 'error', error: { type, message } } };
}

function defaultFaultError(status: number): string {
  if (status === 429) return 'rate_limit_exceeded';
  if (status >= 500) return 'server_error';
  return 'invalid_request';
}

const invalidCode = (): Answer => oauthError(400, 'invalid_grant', 'Invalid authorization code');
const invalidRefresh = (): Answer => oauthError(400, 'invalid_grant', 'Refresh token not found or invalid');

class FakeTokenEndpointServer implements FakeTokenEndpoint {
  private readonly sockets = new Set<Socket>();
  private readonly waits = new Set<() => void>();
  private readonly accounts = new Map<string, Account>();
  private readonly codes = new Map<string, PendingCode>();
  private readonly accessTokens = new Map<string, AccessRecord>();
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  private recordedCalls: TokenCall[] = [];
  private faults: TokenFault[] = [];
  private loginEmail?: string;
  private lastQuery?: Record<string, string>;
  private closing = false;
  private closed?: Promise<void>;
  url = '';
  expiresIn = DEFAULT_EXPIRES_IN;
  omitRefreshTokenOnRefresh = false;
  delayMs = 0;

  constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    server.on('clientError', (_err: Error, socket: Socket) => socket.destroy());
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
  }

  get authorizeUrl(): string {
    return `${this.url}/oauth/authorize`;
  }

  get tokenUrl(): string {
    return `${this.url}/v1/oauth/token`;
  }

  get profileUrl(): string {
    return `${this.url}/api/oauth/profile`;
  }

  get redirectUri(): string {
    return `${this.url}/oauth/code/callback`;
  }

  get lastAuthorize(): Record<string, string> | undefined {
    return this.lastQuery;
  }

  get calls(): readonly TokenCall[] {
    return this.recordedCalls;
  }

  async listen(): Promise<void> {
    this.url = await listenOnLoopback(this.server);
  }

  addAccount(options: AddAccountOptions): FakeOAuthAccount {
    if (this.accounts.has(options.email)) throw new Error(`fake token endpoint: account ${options.email} exists`);
    const account: Account = {
      email: options.email,
      plan: options.plan ?? 'claude_max',
      organizationDisabled: options.organizationDisabled ?? false,
      accountUuid: options.accountUuid ?? randomUUID(),
      organizationUuid: options.organizationUuid ?? randomUUID(),
      organizationName: `${options.email}'s Organization`,
      fullName: options.fullName,
      rateLimitTier: options.rateLimitTier ?? DEFAULT_RATE_LIMIT_TIER,
      refreshes: 0,
    };
    this.accounts.set(account.email, account);
    this.loginEmail ??= account.email;
    return FakeTokenEndpointServer.publicAccount(account);
  }

  loginAs(email: string): void {
    this.account(email);
    this.loginEmail = email;
  }

  setOrganizationDisabled(email: string, disabled: boolean): void {
    this.account(email).organizationDisabled = disabled;
  }

  failNext(fault: TokenFault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push(fault);
  }

  refreshes(email: string): number {
    return this.account(email).refreshes;
  }

  revoke(email: string): void {
    this.account(email);
    for (const record of this.refreshTokens.values()) if (record.email === email) record.revoked = true;
    for (const record of this.accessTokens.values()) if (record.email === email) record.revoked = true;
  }

  issueTokens(email: string, options: { expiresIn?: number; scope?: string; clientId?: string } = {}): IssuedTokens {
    this.account(email);
    const scope = options.scope ?? DEFAULT_SCOPE;
    const { accessToken, expiresAt } = this.mintAccess(email, options.expiresIn ?? this.expiresIn);
    const refreshToken = this.mintRefresh(email, options.clientId ?? '', scope);
    return { accessToken, refreshToken, expiresAt, scope };
  }

  expireAccessTokens(email?: string): void {
    for (const record of this.accessTokens.values()) {
      if (email === undefined || record.email === email) record.expired = true;
    }
  }

  readonly tokenState = (accessToken: string): AccessTokenState => {
    const record = this.accessTokens.get(accessToken);
    if (record === undefined) return 'unknown';
    if (record.revoked) return 'revoked';
    if (record.expired || Date.now() >= record.expiresAt) return 'expired';
    return 'valid';
  };

  readonly emailFor = (accessToken: string): string | undefined => this.accessTokens.get(accessToken)?.email;

  readonly upstreamCheck = (accessToken: string): AccessTokenState | 'organization_disabled' => {
    const state = this.tokenState(accessToken);
    const email = this.emailFor(accessToken);
    if (state === 'valid' && email !== undefined && this.accounts.get(email)?.organizationDisabled === true) {
      return 'organization_disabled';
    }
    return state;
  };

  reset(): void {
    this.accounts.clear();
    this.codes.clear();
    this.accessTokens.clear();
    this.refreshTokens.clear();
    this.recordedCalls = [];
    this.faults = [];
    this.loginEmail = undefined;
    this.lastQuery = undefined;
    this.expiresIn = DEFAULT_EXPIRES_IN;
    this.omitRefreshTokenOnRefresh = false;
    this.delayMs = 0;
  }

  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    for (const wake of [...this.waits]) wake();
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await done;
  }

  private static publicAccount(a: Account): FakeOAuthAccount {
    return {
      email: a.email,
      plan: a.plan,
      organizationDisabled: a.organizationDisabled,
      accountUuid: a.accountUuid,
      organizationUuid: a.organizationUuid,
      organizationName: a.organizationName,
      fullName: a.fullName,
      rateLimitTier: a.rateLimitTier,
    };
  }

  private account(email: string): Account {
    const account = this.accounts.get(email);
    if (account === undefined) throw new Error(`fake token endpoint: no account ${email}`);
    return account;
  }

  private mintAccess(email: string, expiresIn: number): { accessToken: string; expiresAt: number } {
    const accessToken = `test-oauth-access-${randomToken()}`;
    const expiresAt = Date.now() + expiresIn * 1000;
    this.accessTokens.set(accessToken, { email, expiresAt, expired: false, revoked: false });
    return { accessToken, expiresAt };
  }

  private mintRefresh(email: string, clientId: string, scope: string): string {
    const refreshToken = `test-oauth-refresh-${randomToken()}`;
    this.refreshTokens.set(refreshToken, { email, clientId, scope, used: false, revoked: false });
    return refreshToken;
  }

  /** Waits ms, or less when the server closes. */
  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waits.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waits.add(wake);
    });
  }

  // ---- request handling -------------------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.dispatch(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        const message = `fake token endpoint failed: ${err instanceof Error ? err.message : String(err)}`;
        this.send(res, oauthError(500, 'server_error', message));
      });
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, rawBody: string): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', this.url);
    const route = `${method} ${url.pathname.replace(/\/+$/, '')}`;
    switch (route) {
      case 'GET /oauth/authorize':
        return this.sendPage(res, this.authorize(url.searchParams));
      case 'GET /oauth/code/callback': {
        const code = url.searchParams.get('code') ?? '';
        const state = url.searchParams.get('state') ?? '';
        return this.sendPage(res, { status: 200, body: codePage(`${code}#${state}`) });
      }
      case 'POST /v1/oauth/token':
        await this.token(req, res, rawBody);
        return;
      case 'GET /api/oauth/profile':
        return this.send(res, this.profile(req));
      default:
        return this.send(res, apiError(404, 'not_found_error', `Not found: ${method} ${url.pathname}`));
    }
  }

  private authorize(query: URLSearchParams): Answer {
    const q = Object.fromEntries(query);
    this.lastQuery = q;
    const refuse = (message: string): Answer => ({ status: 400, body: message });
    if (!q.client_id) return refuse('Missing client_id');
    if (q.response_type !== 'code') return refuse('response_type must be code');
    if (!q.code_challenge || q.code_challenge_method !== 'S256') {
      return refuse('code_challenge with code_challenge_method=S256 is required');
    }
    if (!q.state) return refuse('Missing state');
    const email = this.loginEmail;
    if (email === undefined) return { status: 500, body: 'fake token endpoint: no account to log in as' };
    const code = randomToken();
    this.codes.set(code, {
      email,
      clientId: q.client_id,
      challenge: q.code_challenge,
      state: q.state,
      redirectUri: q.redirect_uri ?? this.redirectUri,
      scope: q.scope ?? DEFAULT_SCOPE,
      used: false,
    });
    return { status: 200, body: codePage(`${code}#${q.state}`) };
  }

  private async token(req: IncomingMessage, res: ServerResponse, rawBody: string): Promise<void> {
    const isJson = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(req.headers['content-type'] ?? '');
    let body: unknown;
    let parseError = false;
    if (isJson) {
      try {
        body = JSON.parse(rawBody);
      } catch {
        parseError = true;
      }
    }
    const call: TokenCall = {
      grant_type: isRecord(body) && typeof body.grant_type === 'string' ? body.grant_type : undefined,
      body,
      at: Date.now(),
    };
    this.recordedCalls.push(call);
    // Taken on arrival so that faults go to calls in arrival order even when delayMs makes them overlap.
    const fault = this.faults.shift();
    if (this.delayMs > 0) await this.wait(this.delayMs);
    if (this.closing) return;

    let answer: Answer;
    if (fault !== undefined) {
      answer = {
        status: fault.status,
        body: fault.body ?? { error: defaultFaultError(fault.status), error_description: `Injected ${fault.status}` },
        headers: fault.headers,
      };
    } else if (!isJson) {
      answer = oauthError(415, 'invalid_request', 'Content-Type must be application/json');
    } else if (parseError || !isRecord(body)) {
      answer = oauthError(400, 'invalid_request', 'The request body must be a JSON object');
    } else {
      answer = this.grant(body);
    }
    call.status = answer.status;
    this.send(res, answer);
  }

  private grant(body: JsonObject): Answer {
    switch (body.grant_type) {
      case 'authorization_code':
        return this.exchangeCode(body);
      case 'refresh_token':
        return this.refresh(body);
      default:
        return oauthError(400, 'unsupported_grant_type', `Unsupported grant_type: ${String(body.grant_type)}`);
    }
  }

  // A refused exchange leaves the code usable; only a successful one uses it up.
  private exchangeCode(body: JsonObject): Answer {
    const code = stringField(body, 'code');
    const pending = code === undefined ? undefined : this.codes.get(code);
    if (pending === undefined || pending.used) return invalidCode();
    const clientId = stringField(body, 'client_id');
    if (clientId === undefined) return oauthError(400, 'invalid_request', 'Missing client_id');
    if (clientId !== pending.clientId) return oauthError(400, 'invalid_grant', 'client_id does not match');
    const verifier = stringField(body, 'code_verifier');
    if (verifier === undefined || pkceChallenge(verifier) !== pending.challenge) {
      return oauthError(400, 'invalid_grant', 'Invalid code_verifier');
    }
    if (stringField(body, 'state') !== pending.state) return oauthError(400, 'invalid_grant', 'Invalid state');
    if (stringField(body, 'redirect_uri') !== pending.redirectUri) {
      return oauthError(400, 'invalid_grant', 'redirect_uri does not match');
    }
    pending.used = true;
    return this.tokenAnswer(pending.email, this.mintRefresh(pending.email, clientId, pending.scope), pending.scope);
  }

  private refresh(body: JsonObject): Answer {
    const clientId = stringField(body, 'client_id');
    if (clientId === undefined) return oauthError(400, 'invalid_request', 'Missing client_id');
    const token = stringField(body, 'refresh_token');
    const record = token === undefined ? undefined : this.refreshTokens.get(token);
    if (record === undefined || record.used || record.revoked) return invalidRefresh();
    // Tokens minted by issueTokens without a client id may be refreshed by any client.
    if (record.clientId !== '' && record.clientId !== clientId) return invalidRefresh();
    this.account(record.email).refreshes++;
    if (this.omitRefreshTokenOnRefresh) return this.tokenAnswer(record.email, undefined, record.scope);
    record.used = true;
    return this.tokenAnswer(record.email, this.mintRefresh(record.email, clientId, record.scope), record.scope);
  }

  private tokenAnswer(email: string, refreshToken: string | undefined, scope: string): Answer {
    const account = this.account(email);
    const { accessToken } = this.mintAccess(email, this.expiresIn);
    const body: JsonObject = {
      token_type: 'Bearer',
      access_token: accessToken,
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
      expires_in: this.expiresIn,
      scope,
      organization: { uuid: account.organizationUuid, name: account.organizationName },
      account: { uuid: account.accountUuid, email_address: account.email },
    };
    return { status: 200, body };
  }

  private profile(req: IncomingMessage): Answer {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined) return apiError(401, 'authentication_error', 'Missing bearer token');
    switch (this.tokenState(token)) {
      case 'unknown':
        return apiError(401, 'authentication_error', 'Invalid bearer token');
      case 'expired':
        return apiError(
          401,
          'authentication_error',
          'OAuth token has expired. Please obtain a new token or refresh your existing token.',
        );
      case 'revoked':
        return apiError(403, 'permission_error', 'OAuth token has been revoked. Please obtain a new token.');
      case 'valid':
        break;
    }
    const account = this.account(this.emailFor(token)!);
    return {
      status: 200,
      body: {
        account: {
          uuid: account.accountUuid,
          email: account.email,
          ...(account.fullName === undefined ? {} : { full_name: account.fullName }),
          has_claude_max: account.plan === 'claude_max',
          has_claude_pro: account.plan === 'claude_pro',
        },
        organization: {
          uuid: account.organizationUuid,
          name: account.organizationName,
          organization_type: account.plan,
          rate_limit_tier: account.rateLimitTier,
        },
      },
    };
  }

  // ---- response helpers -------------------------------------------------------------------------------------------

  private send(res: ServerResponse, answer: Answer, contentType = 'application/json'): void {
    if (res.headersSent || res.destroyed) return;
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    const headers: OutgoingHttpHeaders = {
      'content-type': contentType,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...answer.headers,
    };
    res.writeHead(answer.status, headers);
    res.end(text);
  }

  private sendPage(res: ServerResponse, answer: Answer): void {
    this.send(res, answer, answer.status === 200 ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8');
  }
}

/** Starts a fake Claude OAuth authority on 127.0.0.1 with a random port. Close it with `close()`. */
export async function startFakeTokenEndpoint(): Promise<FakeTokenEndpoint> {
  const endpoint = new FakeTokenEndpointServer(createServer());
  await endpoint.listen();
  return endpoint;
}
