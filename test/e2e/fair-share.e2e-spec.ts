import { randomUUID } from 'node:crypto';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, getJson, postJson, type RunningGateway, startGateway } from '../support/gateway-harness';
import { claudeCodeBody, importAccount, oauthProvider, oauthSettings, routeAll } from '../support/oauth-gateway';

const ALICE_KEY = 'alice-key-0123456789abcdef';
const BOB_KEY = 'bob-key-0123456789abcdef00';
const ACCOUNT = 'team-seat@example.com';

interface RouteAnswer {
  order: { provider: string }[];
  candidates: { provider: string; accounts?: { fair_share?: unknown }[] }[];
}

const providersInOrder = (body: unknown) => (body as RouteAnswer).order.map((o) => o.provider);

/** Two teammates on one subscription account whose 5-hour window is nearly full, with an API-key backup. */
describe('fair shares of a subscription account', () => {
  let tokens: FakeTokenEndpoint;
  let seat: FakeUpstream;
  let backup: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    [tokens, seat, backup] = await Promise.all([startFakeTokenEndpoint(), startFakeUpstream(), startFakeUpstream()]);
    seat.requireOAuth(tokens.upstreamCheck);
    const resetsAt = Math.floor(Date.now() / 1000) + 3600;
    seat.setDefault({
      kind: 'message',
      usage: { input_tokens: 100, output_tokens: 100 },
      headers: {
        'anthropic-ratelimit-unified-status': 'allowed',
        'anthropic-ratelimit-unified-5h-utilization': '0.9',
        'anthropic-ratelimit-unified-5h-reset': String(resetsAt),
        'anthropic-ratelimit-unified-7d-utilization': '0.3',
        'anthropic-ratelimit-unified-7d-reset': String(resetsAt + 86_400),
      },
    });
    gateway = await startGateway({
      providers: [oauthProvider('seat', seat.url), anthropicProvider('backup', backup.url)],
      model_routes: routeAll('seat', 'backup'),
      clients: [
        { name: 'alice', key: ALICE_KEY },
        { name: 'bob', key: BOB_KEY },
      ],
      settings: {
        oauth: oauthSettings(tokens, '', { fair_share_at: 0.8 }),
        deduplication: { enabled: false },
        sticky_provider_duration: 0,
      },
    });
    tokens.addAccount({ email: ACCOUNT });
    await importAccount(gateway.url, tokens, ACCOUNT);
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([tokens.close(), seat.close(), backup.close()]);
  });

  const ask = (key: string) =>
    postJson(`${gateway.url}/v1/messages`, claudeCodeBody({ messages: [{ role: 'user', content: randomUUID() }] }), {
      'x-api-key': key,
    });

  it('should send the heavier teammate to the backup and keep the lighter one on the account', async () => {
    for (const key of [ALICE_KEY, ALICE_KEY, ALICE_KEY, BOB_KEY]) {
      expect((await ask(key)).headers['x-provider-used']).toBe('seat');
    }
    // Alice drew 3/4 of the window's tokens, past her half; Bob 1/4.
    const alice = await ask(ALICE_KEY);
    expect(alice.status).toBe(200);
    expect(alice.headers['x-provider-used']).toBe('backup');
    expect((await ask(BOB_KEY)).headers['x-provider-used']).toBe('seat');

    const explained = await getJson(`${gateway.url}/providers/route?model=claude-sonnet-4-5&client=alice`);
    expect(explained.status).toBe(200);
    expect(providersInOrder(explained.body)).toEqual(['backup', 'seat']);
    expect(explained.body.fair_share).toMatch(/alice is past its fair share .* seat/);
    const seatRow = (explained.body as RouteAnswer).candidates.find((c) => c.provider === 'seat')!;
    expect(seatRow.accounts![0]!.fair_share).toMatchObject({
      over: true,
      windows: expect.arrayContaining([{ window: '5h', utilization: 0.9, share: 0.6, fair_share: 0.5 }]),
    });
    const forBob = await getJson(`${gateway.url}/providers/route?model=claude-sonnet-4-5&client=bob`);
    expect(providersInOrder(forBob.body)).toEqual(['seat', 'backup']);
  });

  it('should still serve the heavier teammate from the account when nothing else is left', async () => {
    backup.setDefault({ kind: 'status', status: 503, message: 'backup down' });
    const alice = await ask(ALICE_KEY);
    expect(alice.status).toBe(200);
    expect(alice.headers['x-provider-used']).toBe('seat');
  });
});
