// The demo's "resumable answer" panel in real Chromium: a simulated answer streams token by token
// from a Durable Stream; the page is reloaded mid-answer and carries on from the offset it had
// shown, ending with exactly the hub's answer (no token repeated or missing).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEMO_CHANNEL_RULES } from '../../src/cli/settings.js';
import { ANSWER_TOKENS } from '../../src/hub/streams/demo-answer.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { startHub, type TestHub } from '../helpers/hub.js';

interface Saved {
  url: string;
  offset: string;
  text: string;
  tokens: number;
  done: boolean;
  resumedFrom: string | null;
}

describe('demo: resumable answer', () => {
  let h: TestHub;
  let browser: TestBrowser;
  before(async () => {
    // As `cometa serve --demo` runs it (the page also uses the demo's channels).
    h = await startHub({ demo: true, channels: [...DEMO_CHANNEL_RULES] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await h?.close();
  });

  test('reloading mid-answer resumes from the shown offset with no token repeated or missing', async () => {
    const page = await browser.open(`${h.url}/`);
    await page.click('#ask');
    const saved = () =>
      page.evaluate(() => JSON.parse(sessionStorage.getItem('cometa.demo.answer') ?? 'null') as Saved | null);
    let before: Saved | null = null;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      before = await saved();
      if (before !== null && before.tokens >= 8) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(before !== null && before.tokens >= 8 && !before.done, 'the answer is streaming');
    assert.ok(before.tokens < ANSWER_TOKENS.length, 'reloaded before the end');

    await page.reload();
    const resumed = await saved();
    assert.ok(resumed !== null);
    assert.notEqual(resumed.resumedFrom, null, 'the page resumed');
    assert.notEqual(resumed.resumedFrom, '-1');
    // It resumed where it had been (or later, if a read completed while unloading), never earlier.
    assert.ok(resumed.resumedFrom! >= before.offset);
    assert.ok(resumed.text.startsWith(before.text));

    const end = Date.now() + 30_000;
    let last = resumed;
    while (Date.now() < end && !last.done) {
      await new Promise((r) => setTimeout(r, 100));
      last = (await saved())!;
    }
    assert.equal(last.done, true, 'the answer finished');
    assert.equal(last.tokens, ANSWER_TOKENS.length);
    assert.equal(last.text, ANSWER_TOKENS.join(''));
    assert.equal(await page.textContent('#answer-text'), ANSWER_TOKENS.join(''));
    assert.match((await page.textContent('#answer-resumed')) ?? '', /resumed from offset \d{16}_\d{16}/);
    // The page's text is the stream's own content.
    const stream = await fetch(`${h.url}${last.url}?offset=-1`);
    assert.equal(((await stream.json()) as string[]).join(''), last.text);
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});
