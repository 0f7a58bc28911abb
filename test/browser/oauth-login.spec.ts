/**
 * Logging a Claude account in the way a person does, in a real browser: the gateway's /oauth/authorize page behind
 * HTTP Basic (the admin key as password), the login link opening Claude's page (the fake token endpoint's) in a new
 * tab, the CODE#STATE copied from there and pasted into the gateway's page, and the result shown on it. Account emails
 * and error messages that carry markup must show as text and never run.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { getJson, type RunningGateway, startGateway } from '../support/gateway-harness';
import { oauthProvider, oauthSettings, routeAll, type TempTokenStore, tempTokenStore } from '../support/oauth-gateway';
import { assertChromiumInstalled, launchChromium, saveScreenshot } from './chromium';

const ADMIN_KEY = 'adm-browser-4e8b1d2f6a93c057';
const MARKER = 'xss-executed';

/** Emails whose text is markup: each would run `MARKER` and open a dialog if it were ever parsed as HTML. */
const HOSTILE_EMAILS = [
  `<script>console.log('${MARKER}-1');alert(1)</script>@example.com`,
  `"><img src=x onerror="console.log('${MARKER}-2');alert(2)">@example.com`,
  `<svg onload="console.log('${MARKER}-3');alert(3)"></svg>@example.com`,
];

interface Watched {
  dialogs: string[];
  console: string[];
}

describe('the browser login page of /oauth/authorize', () => {
  let tokens: FakeTokenEndpoint;
  let upstream: FakeUpstream;
  let store: TempTokenStore;
  let gateway: RunningGateway;
  let browser: Browser;
  let context: BrowserContext;
  let watched: Watched;

  beforeAll(async () => {
    // Before anything is started: a missing Chromium must fail the suite, not leave servers open behind it.
    assertChromiumInstalled();
    [tokens, upstream, browser] = await Promise.all([startFakeTokenEndpoint(), startFakeUpstream(), launchChromium()]);
    store = tempTokenStore();
    gateway = await startGateway({
      providers: [oauthProvider('subscription', upstream.url)],
      model_routes: routeAll('subscription'),
      settings: { admin_key: ADMIN_KEY, oauth: oauthSettings(tokens, store.path) },
    });
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await Promise.all([tokens?.close(), upstream?.close()]);
    store?.remove();
  });

  beforeEach(async () => {
    tokens.reset();
    tokens.addAccount({ email: 'alice@example.com', plan: 'claude_max' });
    for (const email of HOSTILE_EMAILS) tokens.addAccount({ email, plan: 'claude_pro' });
    watched = { dialogs: [], console: [] };
    // A fresh profile per test; the browser answers the gateway's Basic challenge with the admin key.
    context = await browser.newContext({ httpCredentials: { username: 'admin', password: ADMIN_KEY } });
    context.on('page', (page) => watch(page));
  });

  afterEach(async () => {
    await context?.close();
  });

  function watch(page: Page): void {
    page.on('dialog', (dialog) => {
      watched.dialogs.push(dialog.message());
      void dialog.dismiss().catch(() => undefined);
    });
    page.on('console', (message) => watched.console.push(message.text()));
  }

  async function openLoginPage(): Promise<Page> {
    const page = await context.newPage();
    const response = await page.goto(`${gateway.url}/oauth/authorize`);
    expect(response?.status()).toBe(200);
    expect(await page.title()).toContain('Log in a Claude account');
    return page;
  }

  /** Clicks the login link, reads the code on Claude's page in the new tab, and closes that tab. */
  async function codeFromClaudeTab(page: Page): Promise<string> {
    const [claudeTab] = await Promise.all([context.waitForEvent('page'), page.click('#login-link')]);
    await claudeTab.waitForLoadState('domcontentloaded');
    expect(claudeTab.url().startsWith(`${tokens.authorizeUrl}?`)).toBe(true);
    const code = (await claudeTab.locator('#code').textContent())?.trim() ?? '';
    await claudeTab.close();
    return code;
  }

  async function pasteAndSubmit(page: Page, code: string): Promise<{ text: string; className: string }> {
    await page.fill('#code', code);
    await page.click('#paste button[type="submit"]');
    const result = page.locator('#result.ok, #result.error');
    await result.waitFor({ state: 'visible', timeout: 20_000 });
    return { text: (await result.textContent()) ?? '', className: (await result.getAttribute('class')) ?? '' };
  }

  const status = () => getJson(`${gateway.url}/oauth/status`, { 'x-api-key': ADMIN_KEY });

  it('should add the account from the code pasted from Claude’s page, and list it in /oauth/status', async () => {
    tokens.loginAs('alice@example.com');
    const page = await openLoginPage();

    const code = await codeFromClaudeTab(page);
    expect(code).toMatch(/^[\w-]+#[\w-]+$/);
    const result = await pasteAndSubmit(page, code);

    expect(result).toEqual({ text: 'Added alice@example.com (claude_max).', className: 'ok' });
    await saveScreenshot(page, 'oauth-login-added');
    const listed = await status();
    expect(listed.status).toBe(200);
    expect(listed.body.accounts).toEqual([
      expect.objectContaining({ email: 'alice@example.com', plan: 'claude_max', state: 'ok' }),
    ]);
    // The browser reads /oauth/status too, through the same Basic login.
    const statusPage = await context.newPage();
    const response = await statusPage.goto(`${gateway.url}/oauth/status`);
    expect(response?.status()).toBe(200);
    expect(await statusPage.locator('body').textContent()).toContain('alice@example.com');
    expect(watched.dialogs).toEqual([]);
  });

  it('should not show the page without the admin key, nor with a wrong one', async () => {
    for (const options of [{}, { httpCredentials: { username: 'admin', password: 'not-the-admin-key' } }]) {
      const other = await browser.newContext(options);
      try {
        const page = await other.newPage();
        const challenges: string[] = [];
        page.on('response', (response) => {
          if (response.status() === 401) challenges.push(response.headers()['www-authenticate'] ?? '');
        });
        // Headless Chromium has no one to ask for a password: it gives up on the challenge.
        const outcome = await page.goto(`${gateway.url}/oauth/authorize`).then(
          (response) => response?.status(),
          (error: Error) => error.message,
        );
        expect(outcome === 401 || /ERR_INVALID_AUTH_CREDENTIALS/.test(String(outcome))).toBe(true);
        expect(challenges.length).toBeGreaterThan(0);
        expect(challenges[0]).toMatch(/^Basic realm=/);
        expect(await page.locator('#login-link').count()).toBe(0);
      } finally {
        await other.close();
      }
    }
  });

  it('should show a refused or reused code as an error on the page', async () => {
    tokens.loginAs('alice@example.com');
    const page = await openLoginPage();
    const code = await codeFromClaudeTab(page);
    expect((await pasteAndSubmit(page, code)).className).toBe('ok');

    const again = await pasteAndSubmit(page, code);

    expect(again.className).toBe('error');
    expect(again.text).toMatch(/already used/);
  });

  it.each(HOSTILE_EMAILS.map((email, i) => [i + 1, email] as const))(
    'should show an account email made of markup as text, never running it (%i)',
    async (_n, email) => {
      tokens.loginAs(email);
      const page = await openLoginPage();

      const result = await pasteAndSubmit(page, await codeFromClaudeTab(page));

      expect(result).toEqual({ text: `Added ${email.toLowerCase()} (claude_pro).`, className: 'ok' });
      expect(await page.locator('#result *').count()).toBe(0);
      expect(await page.locator('img, svg').count()).toBe(0);
      await page.waitForTimeout(200);
      expect(watched.dialogs).toEqual([]);
      expect(watched.console.filter((line) => line.includes(MARKER))).toEqual([]);
      const listed = await status();
      expect((listed.body.accounts as { email: string }[]).map((a) => a.email)).toContain(email.toLowerCase());
    },
  );

  it("should show the token endpoint's error message as text, never running markup in it", async () => {
    tokens.loginAs('alice@example.com');
    const page = await openLoginPage();
    const code = await codeFromClaudeTab(page);
    const markup = `<img src=x onerror="console.log('${MARKER}-error');alert('error')">`;
    tokens.failNext({ status: 400, body: { error: 'invalid_grant', error_description: markup } });

    const result = await pasteAndSubmit(page, code);

    expect(result.className).toBe('error');
    expect(result.text).toContain(markup);
    expect(await page.locator('#result *').count()).toBe(0);
    await page.waitForTimeout(200);
    expect(watched.dialogs).toEqual([]);
    expect(watched.console.filter((line) => line.includes(MARKER))).toEqual([]);
  });
});
