/**
 * The dashboard in a real browser, as the person watching the pool sees it: the page asks for the admin key once per
 * tab, then shows the providers (one failing, one healthy, one of Claude accounts), the accounts and the teammates; a
 * request makes the failing provider's cooldown appear on the next refresh. Account emails, provider and teammate names
 * and upstream error texts that carry markup show as text and never run; no key is ever in the DOM. Screenshots at 1280×800 and on a phone go
 * to test-output/browser/.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';
import {
  importAccount,
  oauthProvider,
  oauthSettings,
  type TempTokenStore,
  tempTokenStore,
  routeAll,
} from '../support/oauth-gateway';
import { assertChromiumInstalled, launchChromium, saveScreenshot } from './chromium';

const ADMIN_KEY = 'adm-dashboard-browser-3f8a1c6e9d2b7054';
const ALICE_KEY = 'alice-dashboard-browser-6b1d9e4a2c8f0537';
const MARKER = 'xss-executed';
const HOSTILE_EMAIL = `<img src=x onerror="console.log('${MARKER}-email');alert(1)">@example.com`;
const HOSTILE_ERROR = `<script>console.log('${MARKER}-error');alert(2)</script> upstream is overloaded`;
const HOSTILE_PROVIDER = `<svg onload="console.log('${MARKER}-provider');alert(3)">spare`;
const HOSTILE_CLIENT = `<iframe srcdoc="<script>parent.console.log('${MARKER}-client')</script>">bob`;
const BOB_KEY = 'bob-dashboard-browser-2e7c5a1f9b3d6048';
const PHONE = { width: 390, height: 844 };

describe('the dashboard page', () => {
  let flaky: FakeUpstream;
  let steady: FakeUpstream;
  let subscription: FakeUpstream;
  let tokens: FakeTokenEndpoint;
  let store: TempTokenStore;
  let gateway: RunningGateway;
  let browser: Browser;
  let context: BrowserContext;
  let seen: { dialogs: string[]; console: string[] };
  const secrets: string[] = [
    ADMIN_KEY,
    ALICE_KEY,
    BOB_KEY,
    'sk-provider-flaky-secret',
    'sk-provider-steady-secret',
    `sk-provider-${HOSTILE_PROVIDER}-secret`,
  ];

  beforeAll(async () => {
    // Before anything is started: a missing Chromium must fail the suite, not leave servers open behind it.
    assertChromiumInstalled();
    [flaky, steady, subscription, tokens, browser] = await Promise.all([
      startFakeUpstream(),
      startFakeUpstream(),
      startFakeUpstream(),
      startFakeTokenEndpoint(),
      launchChromium(),
    ]);
    store = tempTokenStore();
    gateway = await startGateway({
      providers: [
        anthropicProvider('flaky', flaky.url),
        anthropicProvider('steady', steady.url),
        oauthProvider('subscription', subscription.url),
        anthropicProvider(HOSTILE_PROVIDER, steady.url),
      ],
      model_routes: routeAll('flaky', 'steady', 'subscription', HOSTILE_PROVIDER),
      clients: [
        { name: 'alice', key: ALICE_KEY, daily_token_budget: 50_000, rpm: 120 },
        { name: HOSTILE_CLIENT, key: BOB_KEY },
      ],
      settings: {
        admin_key: ADMIN_KEY,
        unhealthy_threshold: 1,
        failure_cooldown: 300,
        oauth: oauthSettings(tokens, store.path),
      },
    });
    const admin = { 'x-api-key': ADMIN_KEY };
    for (const email of ['carol@example.com', HOSTILE_EMAIL]) {
      tokens.addAccount({ email, plan: 'claude_max' });
      const issued = await importAccount(gateway.url, tokens, email, admin);
      secrets.push(issued.accessToken, issued.refreshToken);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await Promise.all([flaky?.close(), steady?.close(), subscription?.close(), tokens?.close()]);
    store?.remove();
  });

  beforeEach(async () => {
    seen = { dialogs: [], console: [] };
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  });

  afterEach(async () => {
    await context?.close();
  });

  async function openDashboard(): Promise<Page> {
    const page = await context.newPage();
    page.on('dialog', (dialog) => {
      seen.dialogs.push(dialog.message());
      void dialog.dismiss().catch(() => undefined);
    });
    page.on('console', (message) => seen.console.push(message.text()));
    const response = await page.goto(`${gateway.url}/dashboard`);
    expect(response?.status()).toBe(200);
    return page;
  }

  async function giveKey(page: Page, key: string): Promise<void> {
    await page.locator('#admin-key').fill(key);
    await page.getByRole('button', { name: 'Open the dashboard' }).click();
  }

  const providerRow = (page: Page, name: string) => page.locator('#providers tbody tr', { hasText: name });

  async function expectNoSecretInDom(page: Page): Promise<void> {
    const dom = await page.content();
    const storage = String(await page.evaluate('JSON.stringify(Object.entries(localStorage))'));
    for (const secret of secrets) {
      expect(dom).not.toContain(secret);
      expect(storage).not.toContain(secret);
    }
    expect(await page.context().cookies()).toEqual([]);
  }

  it('should ask for the admin key, refuse a wrong one, and keep the right one for the tab only', async () => {
    const page = await openDashboard();
    await expect(page.locator('#key-form').isVisible()).resolves.toBe(true);
    await expect(page.locator('#board').isHidden()).resolves.toBe(true);

    await giveKey(page, 'not-the-admin-key-at-all');
    await page.locator('#problem', { hasText: 'That admin key was refused.' }).waitFor();

    await giveKey(page, ADMIN_KEY);
    await page.locator('#board').waitFor();
    await page.reload();
    await page.locator('#board').waitFor();
    expect(await page.locator('#key-form').isHidden()).toBe(true);

    // Another tab has a sessionStorage of its own: it asks again.
    const other = await openDashboard();
    await other.locator('#key-form').waitFor();
    await expectNoSecretInDom(page);
  });

  it("should show every provider, account and teammate, and the failing provider's cooldown after a request", async () => {
    const page = await openDashboard();
    await giveKey(page, ADMIN_KEY);
    await page.locator('#board').waitFor();
    expect(await page.locator('#providers tbody tr').count()).toBe(4);
    for (const name of ['flaky', 'steady', 'subscription', HOSTILE_PROVIDER]) {
      await expect(providerRow(page, name).locator('.badge').textContent()).resolves.toBe('healthy');
    }
    await page.locator('#teammates tbody tr', { hasText: HOSTILE_CLIENT }).waitFor();
    expect(await page.locator('#accounts tbody tr').count()).toBe(2);
    await page.locator('#accounts strong', { hasText: HOSTILE_EMAIL }).waitFor();

    flaky.setDefault({ kind: 'status', status: 503, message: HOSTILE_ERROR });
    const answer = await postJson(
      `${gateway.url}/v1/messages`,
      { model: 'claude-sonnet-4-5', max_tokens: 16, messages: userMessage('from the dashboard test') },
      { 'x-api-key': ALICE_KEY },
    );
    expect(answer.status).toBe(200);

    // The next refresh (every few seconds) shows the cooldown counting down and the error as text.
    const flakyRow = providerRow(page, 'flaky');
    await flakyRow.locator('.badge', { hasText: 'cooling down' }).waitFor({ timeout: 15_000 });
    expect(await flakyRow.locator('.countdown').textContent()).toMatch(/^\d+ min \d{2} s$/);
    expect(await flakyRow.locator('.error-text').textContent()).toContain(HOSTILE_ERROR);
    // steady answered it: its last minute has a sparkline and a rate.
    const steadyRate = providerRow(page, 'steady').locator('td[data-label="Requests / s"]');
    await steadyRate.locator('svg.spark').waitFor();
    expect(await steadyRate.textContent()).toBe('0.02');
    const alice = page.locator('#teammates tbody tr', { hasText: 'alice' });
    await alice.locator('td[data-label="Today"]', { hasText: '1 request' }).waitFor({ timeout: 15_000 });
    expect(await alice.locator('td[data-label="Daily budgets"]').textContent()).toContain('of 50,000 tokens');

    await saveScreenshot(page, 'dashboard-1280x800');
    await page.setViewportSize(PHONE);
    await saveScreenshot(page, 'dashboard-phone');
    const overflow = Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    expect(overflow).toBeLessThanOrEqual(0);

    await expectNoSecretInDom(page);
    expect(seen.dialogs).toEqual([]);
    expect(seen.console.filter((line) => line.includes(MARKER))).toEqual([]);
  });
});
