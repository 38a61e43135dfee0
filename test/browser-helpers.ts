// Shared by the browser tests: Debian's chromium driven by playwright-core.
// Without chromium the tests skip with a printed reason, except under CI
// (SELFSUP_REQUIRE_BROWSER=1, set by .ci/run), where they fail loudly.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.SELFSUP_CHROMIUM ?? '/usr/bin/chromium';
export const REQUIRE_BROWSER = process.env.SELFSUP_REQUIRE_BROWSER === '1';
/** Screenshots and measurements the tests keep (git-ignored). */
export const ARTIFACTS = path.resolve(import.meta.dirname, '..', 'test-artifacts');

export function browserMissing(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  const why = `${CHROMIUM} not found (install it: apt-get install -y chromium)`;
  if (REQUIRE_BROWSER) throw new Error(`SELFSUP_REQUIRE_BROWSER=1 but ${why}`);
  console.warn(`skipping the browser tests: ${why}`);
  return why;
}

/** A headless chromium with a fresh profile (a persistent context is how playwright takes --user-data-dir). */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 800 },
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The text of the first element matching `selector` once it contains `text` (or whatever it holds after 10 s). */
export async function textOf(page: Page, selector: string, text: string): Promise<string> {
  const loc = page.locator(selector).first();
  try {
    await loc.filter({ hasText: text }).waitFor({ timeout: 10_000 });
  } catch { /* the assertion shows what is there */ }
  return (await loc.textContent({ timeout: 1000 }).catch(() => null)) ?? `(no element ${selector})`;
}
