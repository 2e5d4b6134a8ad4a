// Shared Playwright launcher for the browser suites: Debian's Chromium through playwright-core, in a
// fresh temporary profile. One launch per test file; pages are cheap.
//   const browser = await launchBrowser();
//   const page = await browser.open(`${origin}/`, { scripts: [`${origin}/cometa.min.js`] });
//   const x = await page.evaluate(() => cometa.buildQuery({ a: 1 }));
//   await browser.close();
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

declare global {
  /** The IIFE bundle's global, in pages opened with the bundle loaded. */
  var cometa: typeof import('../../src/client/index.js');
}

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export interface OpenOptions {
  /** Script URLs added (in order, each loaded before the next) once the page has loaded. */
  scripts?: string[];
}

export interface TestPage extends Page {
  /** Uncaught errors of the page (its `pageerror` events), for tests that check there are none. */
  errors: Error[];
}

export interface TestBrowser {
  context: BrowserContext;
  /** Opens a new page on `url` and waits for it to load (and its `scripts`). */
  open(url: string, options?: OpenOptions): Promise<TestPage>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'cometa-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  // tsx compiles test files with esbuild's keepNames, which wraps functions in `__name(...)` calls;
  // functions passed to page.evaluate() carry them into the page, where this no-op must exist.
  await context.addInitScript('globalThis.__name = (f) => f;');
  return {
    context,
    async open(url, options = {}) {
      const page = (await context.newPage()) as TestPage;
      page.errors = [];
      page.on('pageerror', (e) => page.errors.push(e));
      await page.goto(url);
      for (const src of options.scripts ?? []) await page.addScriptTag({ url: src });
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
