// The demo as a newcomer meets it, in real Chromium: on a phone (390x844) and a laptop (1280) no
// page scrolls sideways and nothing sticks out of the viewport or of its card; messages of a shape
// the page does not draw (the README's own `curl ... /pub/scores.nba` example) are set aside with a
// visible note instead of breaking the scoreboard, also when a reload replays them; and "Auto"
// after a forced transport goes back to the best transport instead of the forced one.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEMO_CHANNEL_RULES } from '../../src/cli/settings.js';
import { launchBrowser, type TestBrowser, type TestPage } from '../helpers/browser.js';
import { startHub, type TestHub } from '../helpers/hub.js';

let h: TestHub;
let browser: TestBrowser;
before(async () => {
  h = await startHub({ demo: true, demoFeed: true, channels: [...DEMO_CHANNEL_RULES] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await h?.close();
});

/** Waits for a page expression (a string: the page's globals are not typed here). */
async function until(page: TestPage, what: string, fn: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(fn, undefined, { timeout }).catch((err: unknown) => {
    throw new Error(`timed out waiting for ${what}`, { cause: err });
  });
}

/** Elements sticking out of the viewport horizontally, or out of the card they sit in. */
function overflows(page: TestPage): Promise<{ scroll: number; width: number; out: string[] }> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const name = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${typeof el.className === 'string' && el.className ? `.${el.className.split(' ').join('.')}` : ''}`;
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.left < -0.5 || r.right > width + 0.5)
        out.push(`${name(el)} [${r.left}, ${r.right}] past the viewport`);
      const card = el.parentElement?.closest('.card');
      if (card) {
        const c = card.getBoundingClientRect();
        if (r.right > c.right + 0.5 || r.left < c.left - 0.5)
          out.push(`${name(el)} [${r.left}, ${r.right}] past its card [${c.left}, ${c.right}]`);
      }
    }
    return { scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 20) };
  });
}

/** Words (narrower than their box) that the boxes with these ids break inside, across two lines. */
function splitWords(page: TestPage, ids: string[]): Promise<string[]> {
  return page.evaluate((boxes) => {
    const out: string[] = [];
    for (const id of boxes) {
      const box = document.getElementById(id)!;
      const width = box.clientWidth;
      const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent ?? '';
        // A break after a hyphen is a word boundary too (the browser's own line-breaking rule).
        for (const m of text.matchAll(/[^\s-]+-*/g)) {
          const range = document.createRange();
          range.setStart(node, m.index);
          range.setEnd(node, m.index + m[0].length);
          const rects = Array.from(range.getClientRects());
          const tops = new Set(rects.map((r) => Math.round(r.top)));
          const wide = rects.reduce((w, r) => w + r.width, 0) >= width;
          if (tops.size > 1 && !wide) out.push(`#${id}: ${m[0]}`);
        }
      }
    }
    return out;
  }, ids);
}

describe('demo layout', () => {
  for (const [width, height] of [
    [390, 844],
    [1280, 900],
  ] as const) {
    test(`the demo page at ${width}x${height}: nothing overflows the viewport or its card`, async () => {
      const page = await browser.open(`${h.url}/`);
      await page.setViewportSize({ width, height });
      await until(
        page,
        'scores and quotes',
        `Object.keys(cometaDemo.scores).length === 3 && Object.keys(cometaDemo.quotes).length === 6`,
      );
      // The Ajax panel's header boxes filled with real headers.
      await page.click('#ajax');
      await until(
        page,
        'response headers',
        `/content-type/i.test(document.getElementById('resheaders').textContent ?? '')`,
      );
      const o = await overflows(page);
      assert.equal(o.scroll, o.width, `the page scrolls sideways: ${o.out.join('\n')}`);
      assert.deepEqual(o.out, []);
      assert.deepEqual(await splitWords(page, ['reqheaders', 'resheaders']), [], 'words broken across lines');
      assert.deepEqual(page.errors, []);
      await page.close();
    });

    test(`the dashboard at ${width}x${height}: nothing overflows`, async () => {
      const page = await browser.open(`${h.url}/dashboard`);
      await page.setViewportSize({ width, height });
      await until(page, 'stats', `cometaDashboard.snapshots >= 2`);
      const o = await overflows(page);
      assert.equal(o.scroll, o.width, `the page scrolls sideways: ${o.out.join('\n')}`);
      assert.deepEqual(o.out, []);
      assert.deepEqual(page.errors, []);
      await page.close();
    });
  }
});

describe('demo and foreign data', () => {
  test("the README's curl publish on scores.nba and a stray quote are set aside, live and on reload", async () => {
    const page = await browser.open(`${h.url}/`);
    await until(page, 'scores', `Object.keys(cometaDemo.scores).length === 3`);
    for (const [channel, body] of [
      ['scores.nba', '{"home":3,"away":1}'],
      ['quotes.AAPL', '{"price":"high"}'],
    ] as const) {
      const res = await fetch(`${h.url}/pub/${channel}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      assert.equal(res.status, 202);
    }
    await until(page, 'both set aside', `cometaDemo.ignored.length >= 2`);
    assert.match((await page.textContent('#scores-note')) ?? '', /Ignored a message on scores\.nba/);
    assert.ok(await page.isVisible('#scores-note'));
    assert.match((await page.textContent('#quotes-note')) ?? '', /Ignored a message on quotes\.AAPL/);
    assert.equal(await page.locator('#league-nba .game').count(), 4, 'the NBA games are still drawn');
    assert.deepEqual(page.errors, []);

    // A reload replays the history, foreign message included.
    await page.reload();
    await until(page, 'replayed scores', `Object.keys(cometaDemo.scores).length === 3`);
    await until(
      page,
      'replayed foreign message set aside',
      `cometaDemo.ignored.some((m) => m.channel === 'scores.nba')`,
    );
    assert.equal(await page.locator('#league-nba .game').count(), 4);
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});

describe('demo transport switcher', () => {
  test('"Auto" after forcing JSONP goes back to the best transport (WebSocket)', async () => {
    const page = await browser.open(`${h.url}/`);
    await until(page, 'open', `document.body.dataset.state === 'open'`);
    await page.check('input[name=transport][value=jsonp]');
    await until(
      page,
      'open over JSONP',
      `document.body.dataset.transport === 'jsonp' && document.body.dataset.state === 'open'`,
    );
    await page.check('input[name=transport][value=auto]');
    await until(
      page,
      'open over WebSocket',
      `document.body.dataset.transport === 'websocket' && document.body.dataset.state === 'open'`,
    );
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});
