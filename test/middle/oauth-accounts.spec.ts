import { setMaxListeners } from 'node:events';
import type { AccountRecord } from '../../src/oauth/account-record';
import type { MessageRequest } from '../../src/messages/message-request';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { messageRequest, provider, upstreamServices } from './upstream-call.fixture';

const CLAUDE_CODE_SYSTEM = [{ type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." }];
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const HOUR = 3600;

/** The account pool, the executor and the refresher against a fake token endpoint and an upstream that checks OAuth. */
describe('Claude subscription accounts, from lease to answer', () => {
  let tokens: FakeTokenEndpoint;
  let upstream: FakeUpstream;
  let backup: FakeUpstream;
  let services: ReturnType<typeof upstreamServices>;
  const never = new AbortController().signal;
  // Twenty concurrent calls share this one signal; each adds a listener.
  setMaxListeners(0, never);

  beforeAll(async () => {
    [tokens, upstream, backup] = await Promise.all([
      startFakeTokenEndpoint(),
      startFakeUpstream(),
      startFakeUpstream(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([tokens.close(), upstream.close(), backup.close(), services?.tokenEndpoint.close()]);
  });

  beforeEach(() => {
    tokens.reset();
    upstream.reset();
    backup.reset();
    upstream.requireOAuth(tokens.upstreamCheck);
    services = upstreamServices({
      providers: [
        { name: 'max', type: 'anthropic', base_url: upstream.url, auth_type: 'oauth' },
        provider('api', backup.url),
      ],
      model_routes: {
        '*': [
          { provider: 'max', model: 'passthrough', priority: 1 },
          { provider: 'api', model: 'passthrough', priority: 2 },
        ],
      },
      settings: {
        sticky_provider_duration: 0,
        oauth: { token_store: '', token_url: tokens.tokenUrl, profile_url: tokens.profileUrl, refresh_margin: 60 },
      },
    });
  });

  async function seed(email: string, expiresIn = 8 * HOUR): Promise<AccountRecord> {
    tokens.addAccount({ email });
    const issued = tokens.issueTokens(email, { expiresIn });
    const record: AccountRecord = {
      email,
      accessToken: issued.accessToken,
      refreshToken: issued.refreshToken,
      expiresAt: issued.expiresAt,
      scopes: ['user:inference'],
      status: 'ok',
      addedAt: Date.now(),
    };
    await services.tokens.put(record);
    return record;
  }

  const request = (extra: Partial<MessageRequest> = {}, body: Record<string, unknown> = {}) => ({
    ...messageRequest({
      model: 'claude-sonnet-4-5',
      max_tokens: 16,
      system: CLAUDE_CODE_SYSTEM,
      messages: [{ role: 'user', content: 'hi' }],
      ...body,
    }),
    ...extra,
  });

  const open = async (message = request()) => {
    const plan = await services.executor.plan(message, services.runtime);
    return { plan, delivery: await services.executor.open(message, plan, services.runtime, never) };
  };

  const accountOf = (index: number) =>
    tokens.emailFor(String(upstream.requests[index]?.headers.authorization).replace(/^Bearer /, ''));

  it('should send the account token as Bearer with the OAuth beta merged into the client’s flags', async () => {
    await seed(ALICE);
    const { delivery } = await open(
      request({ headers: { 'anthropic-beta': 'fine-grained-tool-streaming-2025-05-14' } }),
    );
    expect(delivery).toMatchObject({ kind: 'message', attempt: { provider: { name: 'max' }, account: ALICE } });
    expect(upstream.requests[0]?.headers['x-api-key']).toBeUndefined();
    expect(upstream.requests[0]?.betas).toEqual(['fine-grained-tool-streaming-2025-05-14', 'oauth-2025-04-20']);
  });

  it('should refresh an expired token exactly once for 20 concurrent requests and store the rotated token', async () => {
    const record = await seed(ALICE, 30);
    tokens.delayMs = 100;
    const deliveries = await Promise.all(Array.from({ length: 20 }, () => open()));
    expect(deliveries.every(({ delivery }) => delivery.kind === 'message')).toBe(true);
    expect(tokens.refreshes(ALICE)).toBe(1);
    const stored = await services.tokens.get(ALICE);
    expect(stored?.refreshToken).not.toBe(record.refreshToken);
    expect(tokens.tokenState(stored!.accessToken)).toBe('valid');
    expect(upstream.requests.every((_, i) => accountOf(i) === ALICE)).toBe(true);
  });

  it('should refresh once on a 401 for an expired token and retry the same request on the same account', async () => {
    await seed(ALICE);
    tokens.expireAccessTokens(ALICE);
    const { plan, delivery } = await open();
    expect(delivery).toMatchObject({ kind: 'message', attempt: { provider: { name: 'max' }, account: ALICE } });
    expect(tokens.refreshes(ALICE)).toBe(1);
    expect(plan.failures).toEqual([]);
    expect(services.health.isUsable('max')).toBe(true);
  });

  it('should park an account whose window is exhausted and answer the same request on the next account', async () => {
    await seed(ALICE);
    await seed(BOB);
    const reset = Math.floor(Date.now() / 1000) + 3600;
    upstream.enqueue({
      kind: 'status',
      status: 429,
      errorType: 'rate_limit_error',
      message: 'This request would exceed your account rate limit',
      headers: {
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-5h-status': 'rejected',
        'anthropic-ratelimit-unified-5h-utilization': '1.0',
        'anthropic-ratelimit-unified-5h-reset': String(reset),
      },
    });
    const { delivery } = await open();
    expect(delivery).toMatchObject({ kind: 'message', attempt: { account: BOB } });
    expect(services.accounts.state(ALICE).parked).toMatchObject({ until: reset * 1000 });
    expect(services.health.isUsable('max')).toBe(true);
    const next = await open();
    expect(next.delivery).toMatchObject({ attempt: { account: BOB } });
    expect(upstream.requests.map((_, i) => accountOf(i))).toEqual([ALICE, BOB, BOB]);
  });

  it('should bring a parked account back at its reset, with no probe before it', async () => {
    await seed(ALICE);
    const reset = Math.floor(Date.now() / 1000) + 2;
    upstream.enqueue({
      kind: 'status',
      status: 429,
      errorType: 'rate_limit_error',
      message: 'limit',
      headers: {
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-reset': String(reset),
      },
    });
    const first = await open();
    expect(first.delivery).toMatchObject({ attempt: { provider: { name: 'api' } } });
    const during = await open();
    expect(during.delivery).toMatchObject({ attempt: { provider: { name: 'api' } } });
    expect(upstream.requests).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, reset * 1000 - Date.now() + 50));
    const after = await open();
    expect(after.delivery).toMatchObject({ attempt: { provider: { name: 'max' }, account: ALICE } });
  });

  it('should throttle briefly, not park, on a 429 without window headers', async () => {
    await seed(ALICE);
    upstream.enqueue({ kind: 'status', status: 429, errorType: 'rate_limit_error', message: 'Rate limited' });
    const { delivery } = await open();
    expect(delivery).toMatchObject({ attempt: { provider: { name: 'api' } } });
    const state = services.accounts.state(ALICE);
    expect(state.parked).toBeNull();
    expect(state.throttledUntil).toBeGreaterThan(Date.now());
    expect(state.throttledUntil! - Date.now()).toBeLessThanOrEqual(120_000);
  });

  it('should move on from an extra-usage 400 and show it on the account', async () => {
    await seed(ALICE);
    await seed(BOB);
    upstream.enqueue({
      kind: 'status',
      status: 400,
      errorType: 'invalid_request_error',
      message: 'Third-party apps now draw from your extra usage, not your plan limits.',
    });
    const { delivery } = await open();
    expect(delivery).toMatchObject({ kind: 'message', attempt: { account: BOB } });
    expect(services.accounts.state(ALICE).notice).toMatch(/extra usage/);
  });

  it('should mark an account needs_login on invalid_grant, once, without retrying in a loop', async () => {
    await seed(ALICE, 30);
    tokens.failNext({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Refresh token not found or invalid' },
    });
    const { delivery } = await open();
    expect(delivery).toMatchObject({ attempt: { provider: { name: 'api' } } });
    expect(await services.tokens.get(ALICE)).toMatchObject({ status: 'needs_login' });
    await open();
    expect(tokens.calls.filter((call) => call.grant_type === 'refresh_token')).toHaveLength(1);
  });

  it('should not call a token dead when the refused refresh token was already replaced', async () => {
    const record = await seed(ALICE, 30);
    const newer = tokens.issueTokens(ALICE, { expiresIn: 8 * HOUR });
    tokens.failNext({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Refresh token not found or invalid' },
    });
    // A login (or another replica) replaces the pair while this refresh is on its way.
    tokens.delayMs = 150;
    const refreshing = services.refresher.refresh(ALICE, { seen: record.refreshToken });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await services.tokens.put({
      ...record,
      accessToken: newer.accessToken,
      refreshToken: newer.refreshToken,
      expiresAt: newer.expiresAt,
    });
    await refreshing;
    expect(await services.tokens.get(ALICE)).toMatchObject({ status: 'ok', refreshToken: newer.refreshToken });
  });

  it('should keep serving on a valid token while the token endpoint is throttled, and back off', async () => {
    await seed(ALICE, 45);
    tokens.failNext({ status: 429, headers: { 'retry-after': '120' } });
    const { delivery } = await open();
    expect(delivery).toMatchObject({ attempt: { provider: { name: 'max' }, account: ALICE } });
    expect(services.accounts.state(ALICE).refreshRetryAt! - Date.now()).toBeGreaterThan(100_000);
    await open();
    expect(tokens.calls.filter((call) => call.grant_type === 'refresh_token')).toHaveLength(1);
  });

  it('should mark a revoked token needs_login and a disabled organization blocked', async () => {
    await seed(ALICE);
    await seed(BOB);
    tokens.revoke(ALICE);
    tokens.setOrganizationDisabled(BOB, true);
    const { delivery } = await open();
    expect(delivery).toMatchObject({ attempt: { provider: { name: 'api' } } });
    expect(await services.tokens.get(ALICE)).toMatchObject({ status: 'needs_login' });
    expect(await services.tokens.get(BOB)).toMatchObject({ status: 'blocked' });
  });

  it('should never send a request without Claude Code’s identity to an account', async () => {
    await seed(ALICE);
    const { plan, delivery } = await open(request({}, { system: 'You are a helpful assistant.' }));
    expect(delivery).toMatchObject({ attempt: { provider: { name: 'api' } } });
    expect(upstream.requests).toHaveLength(0);
    expect(plan.failures[0]?.failure).toMatchObject({ outcome: 'not_claude_code', countsAgainstHealth: false });
  });

  it('should give a teammate bound to their own seat only that account', async () => {
    await seed(ALICE);
    await seed(BOB);
    const client = (name: string, email: string) =>
      ({
        name,
        keyDigest: Buffer.alloc(32),
        rpm: 0,
        maxConcurrency: 0,
        dailyTokenBudget: 0,
        dailyCostBudget: 0,
        oauthAccounts: [email],
      }) as const;
    for (let i = 0; i < 3; i += 1) {
      await open(request({ client: client('bob', BOB) }));
      await open(request({ client: client('alice', ALICE) }));
    }
    expect(upstream.requests.map((_, i) => accountOf(i))).toEqual([BOB, ALICE, BOB, ALICE, BOB, ALICE]);
  });

  it('should keep a Claude Code session on its account', async () => {
    await seed(ALICE);
    await seed(BOB);
    const sessions = ['s-1', 's-2', 's-1', 's-2', 's-1'];
    for (const sessionId of sessions) await open(request({ sessionId }));
    const bySession = new Map<string, Set<string | undefined>>();
    sessions.forEach((session, i) => bySession.set(session, (bySession.get(session) ?? new Set()).add(accountOf(i))));
    expect([...bySession.values()].every((accounts) => accounts.size === 1)).toBe(true);
  });
});
