/**
 * Debian's Chromium (/usr/bin/chromium, installed by .ci/run) driven by playwright-core, headless and offline: no
 * browser is downloaded, every profile is fresh, background traffic is off.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Throws (never skips) when Chromium is missing. */
export function assertChromiumInstalled(): void {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch (error) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM} (${(error as Error).message}): ` +
        'run `apt-get update && apt-get install -y chromium` (.ci/run does).',
    );
  }
}

/** A headless Chromium; each `newContext()` of it is a fresh profile. Close it with `close()`. */
export async function launchChromium(): Promise<Browser> {
  assertChromiumInstalled();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
}

/** Where the browser tests leave their screenshots (ignored by git). */
export const SCREENSHOTS_DIR = join(__dirname, '..', '..', 'test-output', 'browser');

/** Saves a full-page screenshot of `page` as test-output/browser/<name>.png. */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `${name}.png`), fullPage: true });
}
