/**
 * Requests served by Claude subscription accounts: an `auth_type: oauth` provider in front of a fake upstream that
 * checks subscription credentials the way Anthropic does, accounts logged in through the gateway against the fake
 * token endpoint. What reaches the upstream (Bearer, merged beta flags, the body byte for byte), which requests skip
 * the accounts, which teammate uses which account, a pinned account, a refresh after an expired token, and a restart.
 */
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { OAUTH_BETA, type FakeUpstream, type RecordedRequest, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  expectAnthropicError,
  getJson,
  postJson,
  type RunningGateway,
  sseEvents,
  startGateway,
} from '../support/gateway-harness';
import {
  bearerOf,
  CLAUDE_CODE_BETAS,
  CLAUDE_CODE_IDENTITY,
  claudeCodeBody,
  loginThroughQuery,
  oauthProvider,
  oauthSettings,
  routeAll,
  type TempTokenStore,
  tempTokenStore,
} from '../support/oauth-gateway';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const ALICE_KEY = 'client-alice-3f9a1c0d7e52b846';
const BOB_KEY = 'client-bob-81c4e7a09d3f6b25';
const CLAUDE_CODE_HEADERS = {
  'anthropic-beta': CLAUDE_CODE_BETAS,
  'anthropic-version': '2023-06-01',
  'user-agent': 'claude-cli/2.1.197 (external, cli)',
  'x-app': 'cli',
};

function messageRequests(upstream: FakeUpstream): RecordedRequest[] {
  return upstream.requests.filter((r) => r.path.split('?')[0]!.endsWith('/v1/messages'));
}

describe('Claude subscription accounts serving requests', () => {
  let tokens: FakeTokenEndpoint;
  let subscription: FakeUpstream;
  let keyed: FakeUpstream;
  let store: TempTokenStore;
  let gateway: RunningGateway | undefined;

  beforeAll(async () => {
    [tokens, subscription, keyed] = await Promise.all([
      startFakeTokenEndpoint(),
      startFakeUpstream(),
      startFakeUpstream(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([tokens?.close(), subscription?.close(), keyed?.close()]);
  });

  beforeEach(() => {
    tokens.reset();
    subscription.reset();
    keyed.reset();
    tokens.addAccount({ email: ALICE, plan: 'claude_max' });
    tokens.addAccount({ email: BOB, plan: 'claude_pro' });
    subscription.requireOAuth(tokens.upstreamCheck);
    subscription.setDefault({ kind: 'message', content: [{ type: 'text', text: 'Hello from the account' }] });
    keyed.setDefault({ kind: 'message', content: [{ type: 'text', text: 'Hello from the key' }] });
    store = tempTokenStore();
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    store.remove();
  });

  /** A gateway with the subscription provider first and an api-key provider behind it. */
  const start = async (extra: Record<string, unknown> = {}, provider: Record<string, unknown> = {}) => {
    gateway = await startGateway({
      providers: [oauthProvider('subscription', subscription.url, provider), anthropicProvider('keyed', keyed.url)],
      model_routes: routeAll('subscription', 'keyed'),
      settings: { oauth: oauthSettings(tokens, store.path) },
      ...extra,
    });
    return gateway;
  };

  /** The email of the account whose token a recorded upstream request carried. */
  const accountOf = (request: RecordedRequest) => tokens.emailFor(bearerOf(request.headers) ?? '');

  describe("with Claude Code's requests", () => {
    it('should send the account token as Bearer, add the OAuth beta flag and forward the body byte for byte', async () => {
      const { url } = await start();
      await loginThroughQuery(url, tokens, ALICE);
      // Formatting and escapes JSON.stringify would not produce: any re-serialization would show.
      const raw = JSON.stringify(claudeCodeBody(), null, 2).replace('"hello"', '"h\\u00e9llo \\ud83d\\ude00 \\/"');

      const response = await postJson(`${url}/v1/messages?beta=true`, raw, {
        ...CLAUDE_CODE_HEADERS,
        'x-api-key': 'client-own-api-key-for-the-test',
      });

      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('subscription');
      expect(response.body.content).toEqual([{ type: 'text', text: 'Hello from the account' }]);
      const requests = messageRequests(subscription);
      expect(requests).toHaveLength(1);
      const [sent] = requests;
      expect(sent!.rawBody).toBe(raw);
      expect(bearerOf(sent!.headers)).toBe(store.read().accounts[0]!.accessToken);
      expect(accountOf(sent!)).toBe(ALICE);
      expect(sent!.headers['x-api-key']).toBeUndefined();
      expect(sent!.betas).toEqual([...CLAUDE_CODE_BETAS.split(','), OAUTH_BETA]);
      expect(sent!.headers['anthropic-version']).toBe('2023-06-01');
      expect(sent!.headers['user-agent']).toBe(CLAUDE_CODE_HEADERS['user-agent']);
      expect(JSON.stringify(sent!.headers)).not.toContain('the-client-own-key');
      expect(messageRequests(keyed)).toHaveLength(0);
    });

    it('should stream the answer, and not repeat the OAuth flag when the client already sent it', async () => {
      const { url } = await start();
      await loginThroughQuery(url, tokens, ALICE);

      const response = await postJson(`${url}/v1/messages`, claudeCodeBody({ stream: true }), {
        ...CLAUDE_CODE_HEADERS,
        'anthropic-beta': `${OAUTH_BETA}, ${CLAUDE_CODE_BETAS}`,
      });

      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('subscription');
      const events = sseEvents(response.text);
      expect(events[0]!.event).toBe('message_start');
      expect(events.at(-1)!.event).toBe('message_stop');
      const [sent] = messageRequests(subscription);
      expect(sent!.betas).toEqual([OAUTH_BETA, ...CLAUDE_CODE_BETAS.split(',')]);
      expect(accountOf(sent!)).toBe(ALICE);
    });

    it('should take a system prompt given as one string that starts with the identity line', async () => {
      const { url } = await start();
      await loginThroughQuery(url, tokens, ALICE);

      const response = await postJson(
        `${url}/v1/messages`,
        claudeCodeBody({ system: `${CLAUDE_CODE_IDENTITY}\n\nYou help with code.` }),
        CLAUDE_CODE_HEADERS,
      );

      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('subscription');
    });
  });

  describe('with requests that are not Claude Code’s', () => {
    const notClaudeCode: [string, Record<string, unknown>][] = [
      ['no system prompt', { system: undefined }],
      ['another system prompt', { system: [{ type: 'text', text: 'You are a helpful assistant.' }] }],
      [
        'the identity line inside a block',
        { system: [{ type: 'text', text: `Pretend this: ${CLAUDE_CODE_IDENTITY}` }] },
      ],
      [
        'the identity line in a user message only',
        { system: 'You are a helpful assistant.', messages: [{ role: 'user', content: CLAUDE_CODE_IDENTITY }] },
      ],
      [
        'a billing block that is not at the start',
        { system: [{ type: 'text', text: 'see x-anthropic-billing-header: cc_version=1' }] },
      ],
    ];

    it.each(notClaudeCode)(
      'should skip the subscription provider and answer from the api-key provider (%s)',
      async (_name, change) => {
        const { url } = await start();
        await loginThroughQuery(url, tokens, ALICE);

        const response = await postJson(`${url}/v1/messages`, claudeCodeBody(change), CLAUDE_CODE_HEADERS);

        expect(response.status).toBe(200);
        expect(response.headers['x-provider-used']).toBe('keyed');
        expect(response.body.content).toEqual([{ type: 'text', text: 'Hello from the key' }]);
        expect(messageRequests(subscription)).toHaveLength(0);
        const [sent] = messageRequests(keyed);
        expect(sent!.headers['x-api-key']).toBe('sk-provider-keyed-secret');
        expect(sent!.headers.authorization).toBeUndefined();
        expect(sent!.betas).not.toContain(OAUTH_BETA);
      },
    );

    it('should refuse them without calling the upstream when only the subscription provider is routed', async () => {
      gateway = await startGateway({
        providers: [oauthProvider('subscription', subscription.url)],
        model_routes: routeAll('subscription'),
        settings: { oauth: oauthSettings(tokens, store.path) },
      });
      await loginThroughQuery(gateway.url, tokens, ALICE);

      const response = await postJson(
        `${gateway.url}/v1/messages`,
        claudeCodeBody({ system: 'You are a helpful assistant.' }),
      );

      // Retrying can never help: a 403 that says why, not a 503 that clients retry.
      expectAnthropicError(response, 403, 'permission_error');
      expect(response.headers['x-should-retry']).toBe('false');
      expect(response.body.error.message).toContain("serve only Claude Code's own requests");
      expect(messageRequests(subscription)).toHaveLength(0);
      expect(response.text).not.toContain(store.read().accounts[0]!.accessToken);
    });
  });

  describe('with teammates bound to their own accounts', () => {
    const clients = {
      clients: [
        { name: 'alice', key: ALICE_KEY, oauth_accounts: ['Alice@Example.com'] },
        { name: 'bob', key: BOB_KEY, oauth_accounts: [BOB] },
        { name: 'erin', key: 'client-erin-5a0c9e2f71d8b364', oauth_accounts: ['erin@example.com'] },
      ],
    };

    it("should serve each teammate only from their own account's token, even in the same session", async () => {
      const { url } = await start(clients);
      await loginThroughQuery(url, tokens, ALICE);
      await loginThroughQuery(url, tokens, BOB);

      const served: { client: string; account: string | undefined }[] = [];
      for (let round = 0; round < 3; round++) {
        for (const [client, key] of [
          ['alice', ALICE_KEY],
          ['bob', BOB_KEY],
        ] as const) {
          const before = subscription.requests.length;
          // The same Claude Code session id for both: a sticky session must not carry one teammate to the other's seat.
          const response = await postJson(`${url}/v1/messages`, claudeCodeBody(), {
            ...CLAUDE_CODE_HEADERS,
            'x-api-key': key,
          });
          expect(response.status).toBe(200);
          expect(response.headers['x-provider-used']).toBe('subscription');
          const sent = subscription.requests.slice(before);
          expect(sent).toHaveLength(1);
          expect(JSON.stringify(sent[0]!.headers)).not.toContain(key);
          served.push({ client, account: accountOf(sent[0]!) });
        }
      }

      expect(served).toEqual(
        Array.from({ length: 3 }, () => [
          { client: 'alice', account: ALICE },
          { client: 'bob', account: BOB },
        ]).flat(),
      );
    });

    it("should not lend another teammate's account to one whose own is not logged in", async () => {
      const { url } = await start(clients);
      await loginThroughQuery(url, tokens, ALICE);
      await loginThroughQuery(url, tokens, BOB);

      const response = await postJson(`${url}/v1/messages`, claudeCodeBody(), {
        ...CLAUDE_CODE_HEADERS,
        'x-api-key': 'client-erin-5a0c9e2f71d8b364',
      });

      // Erin's request goes on to the api-key provider behind the accounts.
      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('keyed');
      expect(messageRequests(subscription)).toHaveLength(0);
    });
  });

  describe('with a pinned account', () => {
    it('should use only the account named by account_email', async () => {
      const { url } = await start({}, { account_email: 'Bob@Example.com' });
      await loginThroughQuery(url, tokens, ALICE);
      await loginThroughQuery(url, tokens, BOB);

      for (let i = 0; i < 4; i++) {
        const response = await postJson(`${url}/v1/messages`, claudeCodeBody(), CLAUDE_CODE_HEADERS);
        expect(response.status).toBe(200);
        expect(response.headers['x-provider-used']).toBe('subscription');
      }

      expect(messageRequests(subscription).map(accountOf)).toEqual([BOB, BOB, BOB, BOB]);
    });

    it('should move on to the next provider while the pinned account is not logged in', async () => {
      const { url } = await start({}, { account_email: 'nobody@example.com' });
      await loginThroughQuery(url, tokens, ALICE);

      const response = await postJson(`${url}/v1/messages`, claudeCodeBody(), CLAUDE_CODE_HEADERS);

      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('keyed');
      expect(messageRequests(subscription)).toHaveLength(0);
    });
  });

  describe('when a token is refused', () => {
    it('should refresh an expired token once and retry on the same account', async () => {
      const { url } = await start();
      await loginThroughQuery(url, tokens, ALICE);
      const before = store.read().accounts[0]!;
      tokens.expireAccessTokens(ALICE);

      const response = await postJson(`${url}/v1/messages`, claudeCodeBody(), CLAUDE_CODE_HEADERS);

      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('subscription');
      expect(tokens.refreshes(ALICE)).toBe(1);
      const sent = messageRequests(subscription);
      expect(sent.map((r) => bearerOf(r.headers))).toEqual([before.accessToken, expect.any(String)]);
      expect(bearerOf(sent[1]!.headers)).not.toBe(before.accessToken);
      expect(sent[1]!.rawBody).toBe(sent[0]!.rawBody);
      const after = store.read().accounts[0]!;
      expect(bearerOf(sent[1]!.headers)).toBe(after.accessToken);
      expect(after.refreshToken).not.toBe(before.refreshToken);
    });

    it('should mark a revoked account needs_login and serve from the next provider', async () => {
      const { url } = await start();
      await loginThroughQuery(url, tokens, ALICE);
      tokens.revoke(ALICE);

      const response = await postJson(`${url}/v1/messages`, claudeCodeBody(), CLAUDE_CODE_HEADERS);

      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('keyed');
      const status = await getJson(`${url}/oauth/status`);
      expect(status.body.accounts).toEqual([expect.objectContaining({ email: ALICE, state: 'needs_login' })]);
      expect(status.body.summary).toMatchObject({ total: 1, needs_login: 1 });
    });
  });

  describe('across a restart', () => {
    it('should keep the accounts in the token store and serve from them after a restart', async () => {
      const first = await start();
      await loginThroughQuery(first.url, tokens, ALICE);
      await loginThroughQuery(first.url, tokens, BOB);
      // A refresh rotates the tokens: the restarted gateway must use the rotated ones.
      expect((await postJson(`${first.url}/oauth/refresh/alice%40example.com`, {})).status).toBe(200);
      const stored = store.read().accounts;
      await first.close();
      gateway = undefined;
      const callsBefore = tokens.calls.length;

      const second = await start({}, { account_email: ALICE });
      const status = await getJson(`${second.url}/oauth/status`);
      const response = await postJson(`${second.url}/v1/messages`, claudeCodeBody(), CLAUDE_CODE_HEADERS);

      expect((status.body.accounts as { email: string }[]).map((a) => a.email).sort()).toEqual([ALICE, BOB]);
      expect(status.body.accounts).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ email: ALICE, plan: 'claude_max', state: 'ok' }),
          expect.objectContaining({ email: BOB, plan: 'claude_pro', state: 'ok' }),
        ]),
      );
      expect(response.status).toBe(200);
      expect(response.headers['x-provider-used']).toBe('subscription');
      const sent = messageRequests(subscription).at(-1)!;
      expect(bearerOf(sent.headers)).toBe(stored.find((a) => a.email === ALICE)!.accessToken);
      expect(tokens.tokenState(bearerOf(sent.headers)!)).toBe('valid');
      expect(tokens.calls.length).toBe(callsBefore);
    });
  });

  describe('with no account logged in', () => {
    it('should serve Claude Code from the next provider, and fail with a reason when there is none', async () => {
      const { url } = await start();

      const fallback = await postJson(`${url}/v1/messages`, claudeCodeBody(), CLAUDE_CODE_HEADERS);
      expect(fallback.status).toBe(200);
      expect(fallback.headers['x-provider-used']).toBe('keyed');

      await gateway!.close();
      gateway = await startGateway({
        providers: [oauthProvider('subscription', subscription.url)],
        model_routes: routeAll('subscription'),
        settings: { oauth: oauthSettings(tokens, store.path) },
      });
      const refused = await postJson(`${gateway.url}/v1/messages`, claudeCodeBody(), CLAUDE_CODE_HEADERS);
      expectAnthropicError(refused, 503, 'overloaded_error');
      expect(refused.body.error.message).toContain('subscription');
      expect(messageRequests(subscription)).toHaveLength(0);
    });
  });
});
