// The demo page on a hub made with `demo: true` in code, without the channel rules `cometa serve
// --demo` adds: demo.chat has no presence, so the who's-online snapshot is refused. The page must
// say that presence is off and go on working (live data, chat), with no uncaught error.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { publish, startHub, type TestHub } from '../helpers/hub.js';

/** What the demo exposes as `window.cometaDemo` (demo/demo.js), the part used here. */
interface Demo {
  presenceOff: boolean;
  online: Record<string, boolean>;
  received: { channel: string }[];
}
type DemoWindow = { cometaDemo: Demo };

describe('demo page on a hub without presence on demo.chat', () => {
  let h: TestHub;
  let browser: TestBrowser;
  before(async () => {
    h = await startHub({ demo: true });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  test('shows that presence is off, throws nothing, and still receives the chat', async () => {
    const page = await browser.open(`${h.url}/`);
    /** Waits for `fn` in the page; a timeout names what it waited for and the page's errors. */
    const until = (what: string, fn: () => boolean) =>
      page.waitForFunction(fn, undefined, { timeout: 15_000, polling: 100 }).catch((err: unknown) => {
        throw new Error(`timed out waiting for ${what}; page errors: ${page.errors.join('; ')}`, {
          cause: err,
        });
      });
    await until('open', () => document.body.dataset.state === 'open');
    await until(
      'presence shown as off',
      () => (window as unknown as DemoWindow).cometaDemo.presenceOff === true,
    );
    assert.match((await page.textContent('#online li.off')) ?? '', /presence is off for demo\.chat/i);
    assert.deepEqual(await page.evaluate(() => (window as unknown as DemoWindow).cometaDemo.online), {});
    // The rest of the page works: a chat message still arrives.
    await publish(h.url, 'demo.chat', { name: 'test', text: 'still here' });
    await until('the chat message', () =>
      (window as unknown as DemoWindow).cometaDemo.received.some((r) => r.channel === 'demo.chat'),
    );
    assert.deepEqual(
      page.errors.map((e) => e.message),
      [],
      'no uncaught error in the page',
    );
  });
});
