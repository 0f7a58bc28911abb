/**
 * GET /dashboard and the summary behind it, over HTTP: who may open the page and read the summary, what the summary
 * says after real traffic (per-provider traffic, teammates' usage against their limits, dedup savings), and that no
 * key reaches either. The page's drawing is tested in a real browser (test/browser/dashboard.spec.ts).
 */
import { randomUUID } from 'node:crypto';
import type { DashboardSummary } from '../../src/dashboard/dashboard-summary';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { routeAll } from '../support/oauth-gateway';
import {
  anthropicProvider,
  expectAnthropicError,
  getJson,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const ADMIN_KEY = 'adm-dashboard-7c1e9a3f5b20d486';
const ALICE_KEY = 'alice-dashboard-5d2b8e0c7a41f396';
const BOB_KEY = 'bob-dashboard-9f3a6c1e8b2d0574';
type Summary = Awaited<ReturnType<DashboardSummary['build']>>;
type ProviderListing = { providers: { name: string; cooldown_until: string | null }[] };

const SECRETS = [ADMIN_KEY, ALICE_KEY, BOB_KEY, 'sk-provider-flaky-secret', 'sk-provider-steady-secret'];

describe('GET /dashboard', () => {
  let flaky: FakeUpstream;
  let steady: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    [flaky, steady] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    gateway = await startGateway({
      providers: [anthropicProvider('flaky', flaky.url), anthropicProvider('steady', steady.url)],
      model_routes: routeAll('flaky', 'steady'),
      clients: [
        { name: 'alice', key: ALICE_KEY, daily_token_budget: 100_000, rpm: 600 },
        { name: 'bob', key: BOB_KEY, rpm: 1, max_concurrency: 2 },
      ],
      settings: { admin_key: ADMIN_KEY, unhealthy_threshold: 1, deduplication: { enabled: true, cache_ttl: 60 } },
    });
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([flaky?.close(), steady?.close()]);
  });

  const ask = (key: string, text = randomUUID()) =>
    postJson(
      `${gateway.url}/v1/messages`,
      { model: 'claude-sonnet-4-5', max_tokens: 16, messages: userMessage(text) },
      { 'x-api-key': key },
    );
  const summary = () => getJson(`${gateway.url}/dashboard/summary`, { 'x-api-key': ADMIN_KEY });

  it('should serve the page to a browser without the key, since the page asks for it and holds no data', async () => {
    const page = await getJson(`${gateway.url}/dashboard`, { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['www-authenticate']).toBeUndefined();
    expect(page.text).toContain('id="key-form"');
    expect(page.text).not.toContain('flaky');
    const policy = String(page.headers['content-security-policy']);
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain('unsafe-inline');
  });

  it("should serve the page's script and style with their own types", async () => {
    const script = await getJson(`${gateway.url}/dashboard/dashboard.js`);
    const style = await getJson(`${gateway.url}/dashboard/dashboard.css`);
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.text).toContain('dashboard/summary');
    expect(style.status).toBe(200);
    expect(style.headers['content-type']).toMatch(/^text\/css/);
  });

  it('should refuse the summary without the admin key, with a client key, and from another site', async () => {
    expectAnthropicError(await getJson(`${gateway.url}/dashboard/summary`), 401, 'authentication_error');
    expectAnthropicError(
      await getJson(`${gateway.url}/dashboard/summary`, { 'x-api-key': ALICE_KEY }),
      401,
      'authentication_error',
    );
    for (const page of ['dashboard', 'dashboard/summary']) {
      expectAnthropicError(
        await getJson(`${gateway.url}/${page}`, { 'x-api-key': ADMIN_KEY, origin: 'http://evil.example' }),
        403,
        'permission_error',
      );
    }
  });

  it("should show the last minute's traffic of the provider that answered, after failing over from the other", async () => {
    flaky.setDefault({ kind: 'status', status: 503, message: 'overloaded' });
    for (let i = 0; i < 3; i += 1) expect((await ask(ALICE_KEY)).status).toBe(200);

    const answer = await summary();
    expect(answer.status).toBe(200);
    const { traffic } = answer.body as Summary;
    const steadyTraffic = traffic.providers.find((t) => t.provider === 'steady')!;
    expect(steadyTraffic).toMatchObject({ requests: 3, failed: 0, rejected: 0 });
    expect(steadyTraffic.per_second).toHaveLength(traffic.window_seconds);
    expect(steadyTraffic.per_second.reduce((a, b) => a + b, 0)).toBe(3);
    expect(steadyTraffic.ttfb_p50_ms).toEqual(expect.any(Number));
    expect(steadyTraffic.ttfb_p95_ms).toBeGreaterThanOrEqual(steadyTraffic.ttfb_p50_ms!);
    // flaky answered nobody: it has no traffic of its own, and /providers shows its cooldown.
    expect(traffic.providers.map((t) => t.provider)).not.toContain('flaky');
    const providers = (await getJson(`${gateway.url}/providers`, { 'x-api-key': ADMIN_KEY })).body as ProviderListing;
    expect(providers.providers.find((p) => p.name === 'flaky')!.cooldown_until).not.toBeNull();
  });

  it("should show each teammate's usage today against their limits, and what their limits refused", async () => {
    expect((await ask(BOB_KEY)).status).toBe(200);
    expectAnthropicError(await ask(BOB_KEY), 429, 'rate_limit_error');

    const { teammates } = (await summary()).body as Summary;
    const alice = teammates.find((t) => t.client === 'alice')!;
    const bob = teammates.find((t) => t.client === 'bob')!;
    expect(alice.limits).toEqual({ rpm: 600, max_concurrency: null, daily_tokens: 100_000, daily_cost_usd: null });
    expect(alice.today.requests).toBeGreaterThanOrEqual(3);
    expect(alice.today.tokens).toBeGreaterThan(0);
    expect(alice.yesterday).toMatchObject({ requests: 0, tokens: 0 });
    expect(bob.limits).toMatchObject({ rpm: 1, max_concurrency: 2 });
    expect(bob.refused_by_limit).toEqual({ rpm: 1 });
    expect(bob.today.requests).toBe(1);
  });

  it('should count what deduplication saved', async () => {
    const before = ((await summary()).body as Summary).dedup;
    const text = randomUUID();
    expect((await ask(ALICE_KEY, text)).status).toBe(200);
    expect((await ask(ALICE_KEY, text)).status).toBe(200);

    const after = ((await summary()).body as Summary).dedup;
    expect(after.enabled).toBe(true);
    expect((after.hits.cache ?? 0) - (before.hits.cache ?? 0)).toBe(1);
    expect(after.cached_answers).toBeGreaterThan(before.cached_answers);
    expect(after.cached_bytes).toBeGreaterThan(0);
  });

  it('should carry no key of any kind in the summary or the page', async () => {
    const texts = [
      (await summary()).text,
      (await getJson(`${gateway.url}/dashboard`, { accept: 'text/html' })).text,
      (await getJson(`${gateway.url}/dashboard/dashboard.js`)).text,
    ];
    for (const text of texts) for (const secret of SECRETS) expect(text).not.toContain(secret);
  });
});
