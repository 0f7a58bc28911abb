import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calcPrice } from '@pydantic/genai-prices';
import { request } from 'undici';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { answerWhenOpen, gate, sendMessage } from '../support/dedup-fixtures';
import { eventually } from '../support/e2e-helpers';
import {
  anthropicProvider,
  expectAnthropicError,
  getJson,
  metricValue,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef0';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const today = () => new Date().toISOString().slice(0, 10);

function teamConfig(
  upstream: FakeUpstream,
  alice: Record<string, unknown>,
  settings: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    providers: [anthropicProvider('main', upstream.url)],
    model_routes: { '*': [{ provider: 'main', model: 'passthrough', priority: 1 }] },
    clients: [
      { name: 'alice', key: ALICE, ...alice },
      { name: 'bob', key: BOB },
    ],
    settings: { deduplication: { enabled: false }, ...settings },
  };
}

const ask = (gateway: RunningGateway, key: string, body: Record<string, unknown> = {}) =>
  postJson(
    `${gateway.url}/v1/messages`,
    { model: 'claude-sonnet-4-5', max_tokens: 16, messages: userMessage(randomUUID()), ...body },
    { 'x-api-key': key },
  );

const usageRows = async (gateway: RunningGateway, query = '', key?: string) => {
  const answer = await getJson(`${gateway.url}/usage?${query}`, key ? { 'x-api-key': key } : {});
  expect(answer.status).toBe(200);
  return answer.body.rows as Record<string, unknown>[];
};

describe('client limits', () => {
  let upstream: FakeUpstream;
  let gateway: RunningGateway | undefined;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    upstream.reset();
  });

  afterAll(() => upstream.close());

  it('should refuse past rpm with a 429 that Claude Code retries, naming the limit', async () => {
    gateway = await startGateway(teamConfig(upstream, { rpm: 2 }));
    expect((await ask(gateway, ALICE)).status).toBe(200);
    expect((await ask(gateway, ALICE)).status).toBe(200);
    const refused = await ask(gateway, ALICE);
    expectAnthropicError(refused, 429, 'rate_limit_error');
    expect(refused.headers['x-should-retry']).toBe('true');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(refused.body.error.message).toMatch(/alice .* 2 requests per minute/);
    expect((await ask(gateway, BOB)).status).toBe(200);
    expect(upstream.requests).toHaveLength(3);
    expect(await metricValue(gateway, 'balancer_client_limited_total', { client: 'alice', limit: 'rpm' })).toBe(1);
  });

  it('should hold max_concurrency and give the slot back after an answer, an upstream error and a client that left', async () => {
    gateway = await startGateway(teamConfig(upstream, { max_concurrency: 1 }));
    const held = gate();
    upstream.enqueue({
      kind: 'custom',
      handle: (_req, res) =>
        void answerWhenOpen(res, held.opened, (r) => sendMessage(r, [], { input_tokens: 1, output_tokens: 1 })),
    });
    const first = ask(gateway, ALICE);
    await upstream.waitForRequests(1);
    const refused = await ask(gateway, ALICE);
    expectAnthropicError(refused, 429, 'rate_limit_error');
    expect(refused.headers['x-should-retry']).toBe('true');
    expect(refused.body.error.message).toMatch(/max_concurrency/);
    held.open();
    expect((await first).status).toBe(200);

    upstream.enqueue({ kind: 'status', status: 500, message: 'boom' });
    expect((await ask(gateway, ALICE)).status).toBeGreaterThanOrEqual(500);

    upstream.enqueue({ kind: 'stall' });
    const controller = new AbortController();
    const abandoned = request(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': ALICE },
      body: JSON.stringify({ model: 'm', max_tokens: 5, messages: userMessage('left') }),
      signal: controller.signal,
    }).catch(() => undefined);
    await upstream.waitForRequests(3);
    controller.abort();
    await abandoned;
    await eventually(async () => (await ask(gateway!, ALICE)).status === 200, 'the slot to come back');
  });

  it('should refuse past the daily token budget until the next UTC day, without retries', async () => {
    upstream.setDefault({
      kind: 'message',
      usage: { input_tokens: 40, output_tokens: 10, cache_read_input_tokens: 30 },
    });
    gateway = await startGateway(teamConfig(upstream, { daily_token_budget: 100 }));
    expect((await ask(gateway, ALICE)).status).toBe(200);
    expect((await ask(gateway, ALICE)).status).toBe(200);
    const refused = await ask(gateway, ALICE);
    expectAnthropicError(refused, 429, 'rate_limit_error');
    expect(refused.headers['x-should-retry']).toBe('false');
    const untilMidnight = (Date.parse(`${today()}T00:00:00Z`) + 86_400_000 - Date.now()) / 1000;
    expect(Math.abs(Number(refused.headers['retry-after']) - untilMidnight)).toBeLessThan(5);
    expect(refused.body.error.message).toMatch(/daily token budget \(160 of 100 tokens today\).*00:00 UTC/);
    expect((await ask(gateway, BOB)).status).toBe(200);
  });

  it('should refuse past the daily cost budget, priced by the overrides', async () => {
    upstream.setDefault({ kind: 'message', usage: { input_tokens: 1_000_000, output_tokens: 0 } });
    gateway = await startGateway(
      teamConfig(upstream, { daily_cost_budget: 5 }, { usage: { prices: { 'claude-*': { input: 3, output: 15 } } } }),
    );
    expect((await ask(gateway, ALICE)).status).toBe(200);
    expect((await ask(gateway, ALICE)).status).toBe(200);
    const refused = await ask(gateway, ALICE);
    expectAnthropicError(refused, 429, 'rate_limit_error');
    expect(refused.body.error.message).toMatch(/daily cost budget \(\$6\.00 of \$5 today\)/);
    expect(await metricValue(gateway, 'balancer_client_limited_total', { client: 'alice', limit: 'daily_cost' })).toBe(
      1,
    );
  });
});

describe('usage and cost', () => {
  let upstream: FakeUpstream;
  let dir: string;
  const running: RunningGateway[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'balancer-usage-e2e-'));
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((gateway) => gateway.close()));
    upstream.reset();
    rmSync(dir, { recursive: true, force: true });
  });

  afterAll(() => upstream.close());

  const start = async (settings: Record<string, unknown> = {}, dedup = false) => {
    const gateway = await startGateway(
      teamConfig(
        upstream,
        {},
        { usage: { store: join(dir, 'usage.jsonl') }, ...settings, deduplication: { enabled: dedup } },
      ),
    );
    running.push(gateway);
    return gateway;
  };

  it('should add up what the upstream reported, cache tokens apart, for answers, streams and a cut stream', async () => {
    const gateway = await start();
    upstream.enqueue(
      {
        kind: 'message',
        usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 7 },
      },
      { kind: 'message', usage: { input_tokens: 3, output_tokens: 4 } },
      { kind: 'cut', afterEvents: 4 },
    );
    expect((await ask(gateway, ALICE)).status).toBe(200);
    expect((await ask(gateway, ALICE, { stream: true })).status).toBe(200);
    await ask(gateway, ALICE, { stream: true });
    await eventually(async () => (await usageRows(gateway))[0]?.requests === 3, 'three requests accounted');
    // The cut stream reported its message_start usage: 10 input, 1 output.
    expect(await usageRows(gateway, 'group_by=model')).toEqual([
      expect.objectContaining({
        date: today(),
        client: 'alice',
        model: 'claude-sonnet-4-5',
        requests: 3,
        input_tokens: 23,
        output_tokens: 10,
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 7,
      }),
    ]);
  });

  it('should price a catalogued model as the catalogue does, let an override win, and leave an unknown model unpriced', async () => {
    const gateway = await start({
      usage: { store: join(dir, 'usage.jsonl'), prices: { 'relay-*': { input: 2, output: 10 } } },
    });
    upstream.setDefault({
      kind: 'message',
      usage: { input_tokens: 2_000, output_tokens: 300, cache_read_input_tokens: 5_000 },
    });
    await ask(gateway, ALICE);
    await ask(gateway, ALICE, { model: 'relay-large' });
    await ask(gateway, ALICE, { model: 'homegrown-7b' });
    const rows = await usageRows(gateway, 'group_by=model');
    const byModel = new Map(rows.map((row) => [row.model, row]));
    const catalogue = calcPrice(
      { input_tokens: 7_000, output_tokens: 300, cache_read_tokens: 5_000 },
      'claude-sonnet-4-5',
      { providerId: 'anthropic' },
    )!.total_price;
    expect(byModel.get('claude-sonnet-4-5')!.cost_usd).toBeCloseTo(catalogue, 6);
    expect(byModel.get('relay-large')!.cost_usd).toBeCloseTo((2_000 * 2 + 300 * 10 + 5_000 * 0.2) / 1e6, 6);
    expect(byModel.get('homegrown-7b')).toMatchObject({ cost_usd: null, unpriced_calls: 1, input_tokens: 2_000 });
    expect(
      await metricValue(gateway, 'balancer_cost_usd_total', { client: 'alice', model: 'relay-large' }),
    ).toBeCloseTo(0.008, 6);
  });

  it('should count a dedup follower as a request with no tokens', async () => {
    const gateway = await start({}, true);
    const held = gate();
    upstream.enqueue({
      kind: 'custom',
      handle: (_req, res) =>
        void answerWhenOpen(res, held.opened, (r) => sendMessage(r, [], { input_tokens: 8, output_tokens: 2 })),
    });
    const body = { messages: userMessage('same question') };
    const first = ask(gateway, ALICE, body);
    await upstream.waitForRequests(1);
    const second = ask(gateway, ALICE, body);
    await eventually(
      async () => (await metricValue(gateway, 'balancer_dedup_hits_total', { kind: 'inflight' })) === 1,
      'the follower',
    );
    held.open();
    await Promise.all([first, second]);
    await eventually(async () => (await usageRows(gateway))[0]?.requests === 2, 'both requests');
    expect((await usageRows(gateway))[0]).toMatchObject({ requests: 2, input_tokens: 8, output_tokens: 2 });
  });

  it('should keep usage across a restart', async () => {
    const first = await start();
    await ask(first, ALICE);
    await ask(first, BOB);
    await first.close();
    running.splice(running.indexOf(first), 1);
    const second = await start();
    expect((await usageRows(second)).map((row) => [row.client, row.requests])).toEqual([
      ['alice', 1],
      ['bob', 1],
    ]);
  });

  it('should show a client only its own rows, everyone to the admin, CSV on request, and refuse bad dates', async () => {
    const gateway = await start({ admin_key: 'admin-key-0123456789abcdef' });
    await ask(gateway, ALICE);
    await ask(gateway, BOB);
    expect((await usageRows(gateway, '', ALICE)).map((row) => row.client)).toEqual(['alice']);
    expect((await usageRows(gateway, '', 'admin-key-0123456789abcdef')).map((row) => row.client)).toEqual([
      'alice',
      'bob',
    ]);
    const stranger = await getJson(`${gateway.url}/usage`, { 'x-api-key': 'not-a-key-of-anyone-here' });
    expectAnthropicError(stranger, 401, 'authentication_error');
    const csv = await getJson(`${gateway.url}/usage?group_by=model`, {
      'x-api-key': 'admin-key-0123456789abcdef',
      accept: 'text/csv',
    });
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.text.split('\r\n')[0]).toBe(
      'date,client,model,requests,input_tokens,output_tokens,cache_read_input_tokens,cache_creation_input_tokens,cost_usd,subscription_cost_usd,unpriced_calls',
    );
    expect(csv.text).toContain(`${today()},bob,claude-sonnet-4-5,1,10,5,0,0,`);
    for (const query of ['from=yesterday', 'from=2026-02-30', 'from=2026-12-05&to=2026-12-01', 'group_by=client']) {
      const bad = await getJson(`${gateway.url}/usage?${query}`, { 'x-api-key': 'admin-key-0123456789abcdef' });
      expectAnthropicError(bad, 400, 'invalid_request_error');
    }
  });
});

describe('limits and usage shared by two replicas on Redis', () => {
  let upstream: FakeUpstream;
  let a: RunningGateway;
  let b: RunningGateway;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    const config = teamConfig(
      upstream,
      { rpm: 4 },
      { state: { backend: 'redis', redis_url: REDIS_URL, key_prefix: `balancer-e2e:${randomUUID()}:` } },
    );
    a = await startGateway(config);
    b = await startGateway(config);
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await upstream.close();
  });

  it('should enforce one rpm for both replicas and add both replicas’ usage into one row', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(i % 2 === 0 ? a : b, ALICE)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(4);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(6);
    // Refused requests were never served: the four answered ones are accounted, from both replicas into one row.
    await eventually(async () => (await usageRows(b))[0]?.requests === 4, 'both replicas’ usage in Redis', 5_000);
    expect((await usageRows(a))[0]).toMatchObject({ client: 'alice', requests: 4, input_tokens: 40 });
  });
});
