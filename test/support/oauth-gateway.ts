/**
 * Helpers for the Claude subscription-account (OAuth) tests: a gateway config whose `settings.oauth` points at the
 * fake token endpoint with a token store in a fresh temporary directory (never ./data), the login flow as a script
 * would drive it, an import of Claude Code's credentials file, and a request body shaped like Claude Code's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { type FakeTokenEndpoint, type IssuedTokens, pastedCodeFrom } from './fake-token-endpoint';
import { getJson, type JsonResponse, postJson } from './gateway-harness';

/** The first line of Claude Code's system prompt (interactive CLI). */
export const CLAUDE_CODE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude.";
/** The billing block Claude Code puts first in its system prompt. */
export const CLAUDE_CODE_BILLING_BLOCK = 'x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli;';
/** The beta flags Claude Code sends with its requests (before the gateway adds the OAuth one). */
export const CLAUDE_CODE_BETAS = 'claude-code-20250219,interleaved-thinking-2025-05-14';

/** A temporary directory with the path of a token store file inside it (the file itself is not created). */
export interface TempTokenStore {
  readonly dir: string;
  readonly path: string;
  /** The stored accounts, read from the file. */
  read(): StoredFile;
  remove(): void;
}

export interface StoredAccount {
  email: string;
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  plan?: string;
  status: string;
}

export interface StoredFile {
  version: number;
  accounts: StoredAccount[];
}

export function tempTokenStore(prefix = 'balancer-oauth-'): TempTokenStore {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'oauth-tokens.json');
  return {
    dir,
    path,
    read: () => JSON.parse(readFileSync(path, 'utf8')) as StoredFile,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `settings.oauth` for a gateway that logs in against the fake token endpoint. */
export function oauthSettings(
  tokens: FakeTokenEndpoint,
  tokenStore: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    token_store: tokenStore,
    authorize_url: tokens.authorizeUrl,
    token_url: tokens.tokenUrl,
    redirect_uri: tokens.redirectUri,
    profile_url: tokens.profileUrl,
    enable_auto_refresh: false,
    ...extra,
  };
}

/** An `auth_type: oauth` provider entry in front of a fake upstream. */
export function oauthProvider(name: string, url: string, extra: Record<string, unknown> = {}) {
  return { name, type: 'anthropic', base_url: url, auth_type: 'oauth', ...extra };
}

/** A `*` route over the providers, in priority order. */
export function routeAll(...providers: string[]) {
  return { '*': providers.map((provider, i) => ({ provider, model: 'passthrough', priority: i + 1 })) };
}

export interface StartedLogin {
  login_url: string;
  state: string;
  expires_in: number;
}

/** GET /oauth/authorize as a script does (Accept: application/json). */
export async function startLogin(gatewayUrl: string, headers: Record<string, string> = {}): Promise<StartedLogin> {
  const response = await getJson(`${gatewayUrl}/oauth/authorize`, { accept: 'application/json', ...headers });
  if (response.status !== 200) throw new Error(`GET /oauth/authorize answered ${response.status}: ${response.text}`);
  return response.body as StartedLogin;
}

/** Opens the login link like the user's browser would and returns the CODE#STATE that Claude's page shows. */
export async function codeFromLoginPage(loginUrl: string): Promise<string> {
  const response = await request(loginUrl);
  const html = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`the login page answered ${response.statusCode}: ${html}`);
  return pastedCodeFrom(html);
}

/** The whole login through the JSON endpoints: authorize, Claude's page, then POST /oauth/callback. */
export async function loginThroughGateway(
  gatewayUrl: string,
  tokens: FakeTokenEndpoint,
  email: string,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  tokens.loginAs(email);
  const login = await startLogin(gatewayUrl, headers);
  const pasted = await codeFromLoginPage(login.login_url);
  return postJson(`${gatewayUrl}/oauth/callback`, { code: pasted }, headers);
}

/**
 * The same login finished with GET /oauth/callback?code=&state= (what a redirect to the gateway would do), so that
 * nothing but the query carries the code.
 */
export async function loginThroughQuery(
  gatewayUrl: string,
  tokens: FakeTokenEndpoint,
  email: string,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  tokens.loginAs(email);
  const login = await startLogin(gatewayUrl, headers);
  const [code = '', state = ''] = (await codeFromLoginPage(login.login_url)).split('#');
  const response = await getJson(`${gatewayUrl}/oauth/callback?${new URLSearchParams({ code, state }).toString()}`, {
    accept: 'application/json',
    ...headers,
  });
  if (response.status !== 200) throw new Error(`GET /oauth/callback answered ${response.status}: ${response.text}`);
  return response;
}

/** The JSON of Claude Code's ~/.claude/.credentials.json for a token pair. */
export function credentialsFile(issued: IssuedTokens, subscriptionType = 'max') {
  return {
    claudeAiOauth: {
      accessToken: issued.accessToken,
      refreshToken: issued.refreshToken,
      expiresAt: issued.expiresAt,
      scopes: issued.scope.split(' '),
      subscriptionType,
    },
  };
}

/** Adds an account of the fake to the gateway through POST /oauth/import, and returns its tokens. */
export async function importAccount(
  gatewayUrl: string,
  tokens: FakeTokenEndpoint,
  email: string,
  headers: Record<string, string> = {},
): Promise<IssuedTokens> {
  const issued = tokens.issueTokens(email);
  const response = await postJson(`${gatewayUrl}/oauth/import`, credentialsFile(issued), headers);
  if (response.status !== 200) throw new Error(`POST /oauth/import answered ${response.status}: ${response.text}`);
  return issued;
}

/** A Messages request as Claude Code sends it: the billing block and the identity line in the system prompt. */
export function claudeCodeBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'claude-sonnet-4-5-20250929',
    max_tokens: 256,
    system: [
      { type: 'text', text: CLAUDE_CODE_BILLING_BLOCK },
      { type: 'text', text: CLAUDE_CODE_IDENTITY, cache_control: { type: 'ephemeral' } },
    ],
    messages: [{ role: 'user', content: 'hello' }],
    metadata: { user_id: 'user_test_account__session_0b8f6a2e' },
    ...extra,
  };
}

/** The bearer token of a recorded upstream request's Authorization header, or undefined. */
export function bearerOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers.authorization;
  const text = Array.isArray(value) ? value[0] : value;
  return /^Bearer (\S+)$/.exec(text ?? '')?.[1];
}
