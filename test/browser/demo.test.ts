// The demo and the dashboard in real Chromium against a real hub (`demo: true`, simulated feed on):
// the page loads, scores and quotes arrive over each transport picked in the switcher with nothing
// lost or repeated (checked against the hub's history), a dropped connection resumes, the upload
// bar moves, the image-ping click tracker counts live across pages, the Ajax and JSONP panels fill,
// and the dashboard draws its charts. Screenshots go to test-results/ and must not be blank.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { DEMO_CHANNEL_RULES } from '../../src/cli/settings.js';
import { launchBrowser, type TestBrowser, type TestPage } from '../helpers/browser.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import { startRedis } from '../helpers/redis.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const RESULTS = join(ROOT, 'test-results');
const TRANSPORTS = ['websocket', 'sse', 'stream', 'longpoll', 'jsonp'] as const;

interface DemoState {
  stats: { messages: number; reconnects: number; fallbacks: number; gaps: number; dups: number };
  received: { id: string | null; channel: string; transport: string | null }[];
  scores: Record<string, unknown>;
  quotes: Record<string, unknown>;
  clicks: Record<string, number>;
  progress: number[];
  subscription?: { cursor: string | undefined; transport: string | undefined };
  clickSubscription?: { transport: string | undefined; state: string };
  me: string;
  online: Record<string, boolean>;
  presence: string[];
  retry?: { first: string; again: string; duplicate: boolean };
}
declare global {
  var cometaDemo: DemoState;
  var cometaDashboard: { snapshots: number; drawn: number };
}

/** Decodes an 8-bit RGB/RGBA PNG (what Chromium writes) and measures how much is on it. */
function pngStats(file: string): { width: number; height: number; colors: number; stddev: number } {
  const buf = readFileSync(file);
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.subarray(off + 4, off + 8).toString('latin1');
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      assert.ok(channels > 0, `color type ${data[9]}`);
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const prev = Buffer.alloc(stride);
  const row = Buffer.alloc(stride);
  const colors = new Set<number>();
  let sum = 0;
  let sumSq = 0;
  let n = 0;
  for (let y = 0; y < height; y++) {
    const start = y * (stride + 1);
    const filter = raw[start]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[start + 1 + x]!;
      const a = x >= channels ? row[x - channels]! : 0;
      const b = prev[x]!;
      const c = x >= channels ? prev[x - channels]! : 0;
      let p: number;
      if (filter === 0) p = 0;
      else if (filter === 1) p = a;
      else if (filter === 2) p = b;
      else if (filter === 3) p = (a + b) >> 1;
      else {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      row[x] = (v + p) & 0xff;
    }
    for (let x = 0; x < stride; x += channels) {
      const lum = 0.299 * row[x]! + 0.587 * row[x + 1]! + 0.114 * row[x + 2]!;
      sum += lum;
      sumSq += lum * lum;
      n++;
      colors.add((row[x]! << 16) | (row[x + 1]! << 8) | row[x + 2]!);
    }
    row.copy(prev);
  }
  const mean = sum / n;
  return { width, height, colors: colors.size, stddev: Math.sqrt(sumSq / n - mean * mean) };
}

function assertNotBlank(file: string, minWidth: number): void {
  const s = pngStats(file);
  assert.ok(s.width >= minWidth, `${file}: ${s.width}px wide`);
  assert.ok(s.colors > 200, `${file}: only ${s.colors} colors`);
  assert.ok(s.stddev > 15, `${file}: luminance stddev ${s.stddev.toFixed(1)} (blank-looking)`);
}

/** Waits for `fn` to be true in the page (Playwright polling), with a readable failure. */
async function until<A = undefined>(
  page: TestPage,
  what: string,
  fn: (arg: A) => boolean,
  arg?: A,
  timeout = 15_000,
): Promise<void> {
  try {
    // Playwright's Unboxed<A> does not unify with a generic A; the args here are plain JSON.
    await page.waitForFunction(fn as (arg: unknown) => boolean, arg, { timeout, polling: 100 });
  } catch (err) {
    const [events, clicks] = await page.evaluate(() => {
      const d = (
        window as unknown as {
          cometaDemo?: { events: { text: string }[]; clickSubscription?: { transport?: string } };
        }
      ).cometaDemo;
      return [d?.events.map((e) => e.text), d?.clickSubscription?.transport];
    });
    throw new Error(
      `timed out waiting for ${what}; page log: ${JSON.stringify(events)}; click subscription over ${clicks}; errors: ${page.errors.join('; ')}`,
      {
        cause: err,
      },
    );
  }
}

let h: TestHub;
let browser: TestBrowser;
before(async () => {
  mkdirSync(RESULTS, { recursive: true });
  h = await startHub({ demo: true, demoFeed: true, channels: [...DEMO_CHANNEL_RULES] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await h?.close();
});

describe('demo page', () => {
  let page: TestPage;
  let startCursor = '';

  test('loads, subscribes and fills the scoreboard and the ticker', async () => {
    page = await browser.open(`${h.url}/`);
    await page.setViewportSize({ width: 1400, height: 1000 });
    assert.match((await page.textContent('.badge.sim')) ?? '', /SIMULATED/);
    await until(page, 'open', () => document.body.dataset.state === 'open');
    await until(
      page,
      'scores and quotes',
      () => Object.keys(cometaDemo.scores).length === 3 && Object.keys(cometaDemo.quotes).length === 6,
    );
    assert.equal(await page.locator('#scoreboard .game').count(), 12);
    assert.equal(await page.locator('#ticker tr').count(), 6);
    startCursor = (await page.evaluate(() => cometaDemo.subscription?.cursor)) ?? '';
    assert.match(startCursor, /^[a-z0-9]+-\d+$/);
  });

  test('the chat shows who is online: a second page joins, its reload is no leave, its close is', async () => {
    const me = await page.evaluate(() => cometaDemo.me);
    await until(page, 'this page online', (name) => cometaDemo.online[name] === true, me);
    const second = await browser.open(`${h.url}/`);
    const other = await second.evaluate(() => cometaDemo.me);
    assert.notEqual(other, me);
    await until(page, 'the second page joined', (name) => cometaDemo.online[name] === true, other);
    await until(second, 'the first page in its snapshot', (name) => cometaDemo.online[name] === true, me);
    const seen = await page.evaluate(() => cometaDemo.presence.length);
    await second.reload();
    await until(second, 'reloaded and open', () => document.body.dataset.state === 'open');
    assert.equal(await second.evaluate(() => cometaDemo.me), other, 'the same name after a reload');
    await new Promise((r) => setTimeout(r, 6000)); // past the hub's coalescing window (5 s)
    assert.deepEqual(
      await page.evaluate((n) => cometaDemo.presence.slice(n), seen),
      [],
      'a reload is neither a leave nor a join',
    );
    assert.match((await page.textContent('#online')) ?? '', new RegExp(other));
    await second.close();
    await until(page, 'the second page left', (name) => cometaDemo.online[name] !== true, other, 20_000);
  });

  test('"Publish with a retry": two requests with one Idempotency-Key store one message', async () => {
    await page.click('#retry');
    await until(page, 'both answers', () => cometaDemo.retry !== undefined);
    const r = await page.evaluate(() => cometaDemo.retry!);
    assert.equal(r.again, r.first);
    assert.equal(r.duplicate, true);
    assert.match((await page.textContent('#retrystatus')) ?? '', /stored once/);
  });

  for (const t of TRANSPORTS) {
    test(`scores and quotes update over ${t} picked in the switcher`, async () => {
      const before = await page.evaluate(() => cometaDemo.received.length);
      await page.check(`input[name=transport][value=${t}]`);
      await until(
        page,
        `${t} open`,
        (name) => document.body.dataset.transport === name && document.body.dataset.state === 'open',
        t,
      );
      assert.equal(await page.textContent('#transport'), t);
      await until(
        page,
        `a score and a quote over ${t}`,
        ([from, name]) => {
          const r = cometaDemo.received.slice(from).filter((m) => m.transport === name);
          return (
            r.some((m) => m.channel.startsWith('scores.')) && r.some((m) => m.channel.startsWith('quotes.'))
          );
        },
        [before, t] as const,
        20_000,
      );
    });
  }

  test('"Drop connection" ends it at the hub; the client reconnects and resumes', async () => {
    await page.check('input[name=transport][value=sse]');
    await until(
      page,
      'sse open',
      () => document.body.dataset.transport === 'sse' && document.body.dataset.state === 'open',
    );
    const reconnects = await page.evaluate(() => cometaDemo.stats.reconnects);
    const count = await page.evaluate(() => cometaDemo.received.length);
    await page.click('#drop');
    await until(page, 'a reconnect', (n) => cometaDemo.stats.reconnects > n, reconnects);
    await until(page, 'open again', () => document.body.dataset.state === 'open');
    await until(page, 'messages after the drop', (n) => cometaDemo.received.length > n + 2, count);
    const log = await page.textContent('#log');
    assert.match(log ?? '', /kicked/);
  });

  test('nothing was lost or repeated across every switch and the drop (checked against the hub)', async () => {
    const state = await page.evaluate(() => ({
      received: cometaDemo.received,
      cursor: cometaDemo.subscription?.cursor,
      stats: cometaDemo.stats,
    }));
    assert.equal(state.stats.dups, 0, 'no duplicate reached the page');
    assert.equal(state.stats.gaps, 0);
    const end = Number(state.cursor!.split('-')[1]);
    const channels = [...new Set(state.received.map((m) => m.channel))].filter(
      (c) => c.startsWith('scores.') || c.startsWith('quotes.'),
    );
    const res = await fetch(`${h.url}/sub/${channels.join(',')}?mode=poll&since=${startCursor}`);
    const history = ((await res.json()) as { messages: { id: string }[] }).messages
      .map((m) => m.id)
      .filter((id) => Number(id.split('-')[1]) <= end);
    const got = new Set(state.received.map((m) => m.id));
    const missing = history.filter((id) => !got.has(id));
    assert.ok(history.length > 20, `history holds ${history.length} messages`);
    assert.deepEqual(
      missing,
      [],
      'every message the hub has between the first cursor and the last was received',
    );
  });

  test('FormData publish with a moving upload bar, small and large-file mode', async () => {
    await page.fill('input[name=text]', 'small hello');
    await page.click('#pubform button[type=submit]');
    await until(page, 'small publish', () =>
      /Published as/.test(document.getElementById('pubstatus')!.textContent ?? ''),
    );
    await until(page, 'chat line', () =>
      /small hello/.test(document.getElementById('chat')!.textContent ?? ''),
    );

    await page.evaluate(() => {
      cometaDemo.progress.length = 0;
    });
    await page.fill('input[name=text]', 'big hello');
    await page.check('#bigmode');
    // The page's default size (16 MB): loopback socket buffers swallow the first few MB at once.
    await page.click('#pubform button[type=submit]');
    await until(
      page,
      'big upload done',
      () => /Published as/.test(document.getElementById('pubstatus')!.textContent ?? ''),
      undefined,
      30_000,
    );
    const progress = await page.evaluate(() => cometaDemo.progress);
    // Chromium merges upload progress events when the page is busy: a loaded CI machine saw
    // [0, 0.0078, 0.247, 0.865, 1, 1] for a 2 s paced upload. Two distinct values strictly between
    // the ends still show the bar moving with the bytes sent.
    const between = [...new Set(progress.filter((p) => p > 0 && p < 1))];
    assert.ok(between.length >= 2, `the bar moved through intermediate values: ${JSON.stringify(progress)}`);
    assert.ok(
      progress.every((p, i) => i === 0 || p >= progress[i - 1]!),
      'monotonic',
    );
    assert.equal(progress.at(-1), 1);
    await until(page, 'upload note', () =>
      /big hello \[\+ uploaded 16\.0 MB\]/.test(document.getElementById('chat')!.textContent ?? ''),
    );
    await page.uncheck('#bigmode');
  });

  test('the image-ping click tracker counts live, across pages', async () => {
    await page.click('[data-target=red]');
    await page.click('[data-target=red]');
    await page.click('[data-target=green]');
    await until(page, 'click counts', () => cometaDemo.clicks.red === 2 && cometaDemo.clicks.green === 1);
    assert.equal(await page.textContent('[data-count=red]'), '2');
    const other = await browser.open(`${h.url}/`);
    await until(
      other,
      'history counted on a new page',
      () => cometaDemo.clicks.red === 2 && cometaDemo.clicks.green === 1,
    );
    await other.click('[data-target=blue]');
    await until(page, 'a click on the other page counted live here', () => cometaDemo.clicks.blue === 1);
    assert.equal(await page.textContent('#clicktotal'), '4');
    await other.close();
  });

  test('the Ajax panel shows request headers and getAllResponseHeaders()', async () => {
    await page.click('#ajax');
    await until(page, 'response headers', () =>
      /content-type: application\/json/i.test(document.getElementById('resheaders')!.textContent ?? ''),
    );
    assert.match((await page.textContent('#reqheaders')) ?? '', /X-Requested-With: XMLHttpRequest/);
    assert.match((await page.textContent('#resbody')) ?? '', /"channel": "quotes.AAPL"/);
  });

  test('the JSONP example loads the latest quotes with a script tag', async () => {
    await page.click('#jsonpbtn');
    await until(page, 'jsonp answer', () =>
      /cursor: /.test(document.getElementById('jsonpout')!.textContent ?? ''),
    );
    const out = (await page.textContent('#jsonpout')) ?? '';
    for (const s of ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'TSLA', 'EURUSD'])
      assert.match(out, new RegExp(`${s} `));
    assert.match((await page.textContent('#jsonpurl')) ?? '', /transport=jsonp/);
  });

  test('"Block WebSocket" with Auto: subscribe() falls back to SSE, and the page shows it', async () => {
    const p = await browser.open(`${h.url}/`);
    await until(
      p,
      'open over websocket',
      () => document.body.dataset.transport === 'websocket' && document.body.dataset.state === 'open',
    );
    // The page's second subscription (click counts) shares the client's per-hub memory of the
    // transport that last worked. On a loaded machine its WebSocket can miss the open timeout and it
    // falls back to SSE; later subscriptions then start at SSE, so no fallback is seen (correct).
    await until(p, 'the click subscription open', () => cometaDemo.clickSubscription?.state === 'open');
    const clicksOver = await p.evaluate(() => cometaDemo.clickSubscription?.transport);
    await p.check('#blockws');
    if (clicksOver === 'websocket') {
      await until(
        p,
        'fallback',
        () => cometaDemo.stats.fallbacks >= 1 && document.body.dataset.state === 'open',
      );
      assert.match((await p.textContent('#log')) ?? '', /websocket did not work; falling back to sse/);
    } else {
      await until(p, 'open over sse', () => document.body.dataset.state === 'open');
      assert.equal(await p.evaluate(() => cometaDemo.stats.fallbacks), 0);
    }
    assert.equal(await p.textContent('#transport'), 'sse');
    const n = await p.evaluate(() => cometaDemo.received.length);
    await until(
      p,
      'messages over the fallback',
      (k) => cometaDemo.received.slice(k).some((m) => m.transport === 'sse'),
      n,
    );
    assert.deepEqual(p.errors, []);
    await p.close();
  });

  test('"Resume from a stale cursor" surfaces a gap per channel, then goes on', async () => {
    await page.check('input[name=transport][value=auto]');
    await until(page, 'open', () => document.body.dataset.state === 'open');
    await page.click('#stale');
    // Scores (3), the quotes.* pattern, demo.chat and the page channel: one gap each.
    await until(page, 'gaps', () => cometaDemo.stats.gaps >= 6);
    await until(page, 'open after the gap', () => document.body.dataset.state === 'open');
    assert.match((await page.textContent('#log')) ?? '', /gap on quotes\.\*: epoch/);
    assert.equal(await page.evaluate(() => cometaDemo.stats.dups), 0);
  });

  test('screenshot of the demo is saved and not blank; no page errors', async () => {
    const file = join(RESULTS, 'demo.png');
    await page.screenshot({ path: file, fullPage: true });
    assertNotBlank(file, 1400);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('without subscribe() in the bundle the page still loads and says why', async () => {
    const p = await browser.context.newPage();
    await p.route('**/cometa.js', (route) =>
      route.fulfill({
        contentType: 'application/javascript',
        body: 'window.cometa = { post() {}, ping() {} };',
      }),
    );
    await p.goto(`${h.url}/`);
    await p.waitForFunction(() => document.body.dataset.state === 'unavailable', undefined, {
      timeout: 10_000,
    });
    assert.match((await p.textContent('#log')) ?? '', /no subscribe\(\)/);
    await p.close();
  });
});

describe('dashboard', () => {
  test('several hubs sharing Redis: the dashboard sums their snapshots', async () => {
    const redis = await startRedis();
    const a = await startHub({ store: redis.url, dashboard: true, statsIntervalMs: 500 });
    const b = await startHub({ store: redis.url, dashboard: true, statsIntervalMs: 500 });
    try {
      // One SSE subscriber on hub b, seen by the dashboard served by hub a.
      const ac = new AbortController();
      const res = await fetch(`${b.url}/sub/multi.x`, {
        headers: { accept: 'text/event-stream' },
        signal: ac.signal,
      });
      const page = await browser.open(`${a.url}/dashboard`);
      await until(
        page,
        'two hubs summed',
        () => document.getElementById('k-hubs')!.textContent === '2',
        undefined,
        20_000,
      );
      // The dashboard's own connection (hub a) plus the SSE subscriber (hub b).
      await until(
        page,
        'connections of both hubs',
        () => Number(document.getElementById('k-conns')!.textContent) >= 2,
      );
      const rows = await page.locator('#channels tr').allTextContents();
      assert.ok(
        rows.some((r) => r.startsWith('multi.x')),
        `a channel of hub b listed by hub a: ${rows.join(' | ')}`,
      );
      assert.deepEqual(page.errors, []);
      await page.close();
      ac.abort();
      await res.body?.cancel().catch(() => {});
    } finally {
      await a.close();
      await b.close();
      await redis.stop();
    }
  });

  test('draws connections, rates and drops charts and the channel table, live', async () => {
    // Some traffic on several transports for the charts.
    const feedPage = await browser.open(`${h.url}/`);
    const page = await browser.open(`${h.url}/dashboard`);
    await page.setViewportSize({ width: 1400, height: 900 });
    await until(page, 'stats', () => cometaDashboard.snapshots >= 3 && cometaDashboard.drawn >= 1);
    const first = await page.evaluate(() => cometaDashboard.snapshots);
    await until(page, 'live snapshots', (n) => cometaDashboard.snapshots >= n + 2, first);
    for (const id of ['chart-conns', 'chart-rates', 'chart-drops']) {
      const pts = await page.evaluate(
        (chart) =>
          [...document.querySelectorAll(`#${chart} polyline`)].map(
            (l) => l.getAttribute('points')!.split(' ').length,
          ),
        id,
      );
      assert.ok(
        pts.length >= 1 && pts.every((n) => n >= 3),
        `${id} has lines with points: ${JSON.stringify(pts)}`,
      );
    }
    const rates = await page.evaluate(() =>
      document.querySelector('#chart-rates polyline[data-series=in]')!.getAttribute('points'),
    );
    assert.ok(
      rates!.split(' ').some((p) => Number(p.split(',')[1]) < 150),
      'the published rate line is above zero',
    );
    assert.ok(Number(await page.textContent('#k-conns')) >= 2);
    const rows = await page.locator('#channels tr').allTextContents();
    assert.ok(
      rows.some((r) => r.startsWith('quotes.AAPL')),
      `channel table: ${rows.join(' | ')}`,
    );
    const file = join(RESULTS, 'dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    assertNotBlank(file, 1400);
    assert.deepEqual(page.errors, []);
    await feedPage.close();
    await page.close();
  });
});
