/**
 * subscribe() in Chromium, loaded from the hub's own `/cometa.js` (the built IIFE bundle), each
 * transport forced on its own with the browser's WebSocket, EventSource, XMLHttpRequest (read at
 * readyState 3) and script tags: receive, multiple channels, resume after the hub drops the
 * connection, gap surfaced; then fallback when a proxy refuses the WebSocket; an end with the hub's
 * error code when the hub refuses the subscription for good; no fallback while the hub is down;
 * an AbortSignal.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { SubscribeOptions, SubscribeTransport, SubscriptionStatus } from '../../src/client/index.js';
import { createHub } from '../../src/hub/index.js';
import type { Envelope, GapData } from '../../src/protocol/envelope.js';
import { launchBrowser, type TestBrowser, type TestPage } from '../helpers/browser.js';
import { cutAbruptly } from '../helpers/chaos.js';
import { publish, sleep, startHub, type TestHub } from '../helpers/hub.js';

interface Rec {
  got: Envelope[];
  gaps: Envelope[];
  statuses: SubscriptionStatus[];
  errors: { name: string; code: string; status: number; message: string }[];
  sub: { close(): void; cursor: string | undefined; transport: string | undefined; state: string };
}
declare global {
  var recs: Record<string, Rec>;
}

/** An HTTP proxy in front of `target` that passes requests through and refuses every upgrade with 403. */
async function upgradeRefusingProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const t = new URL(target);
  const server = createServer((req, res) => {
    const up = request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (_req, socket: Duplex) => {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const TRANSPORTS: SubscribeTransport[] = ['websocket', 'sse', 'stream', 'longpoll', 'jsonp'];
let n = 0;
const chan = (p = 'c') => `b${++n}.${p}`;

/** Starts a recorded subscription in the page under `name`. */
function start(page: TestPage, name: string, channels: string[], o: Omit<SubscribeOptions, `on${string}`>) {
  return page.evaluate(
    ([name, channels, o]) => {
      globalThis.recs ??= {};
      const rec = { got: [], gaps: [], statuses: [], errors: [] } as unknown as Rec;
      rec.sub = cometa.subscribe(location.origin, channels, {
        ...o,
        onMessage: (e) => rec.got.push(e),
        onGap: (e) => rec.gaps.push(e),
        // Without `error`: the status is kept as the page saw it, minus what does not clone.
        onStatus: ({ error, ...s }) => rec.statuses.push(s),
        onError: (e) =>
          rec.errors.push({ name: e.name, code: e.code, status: e.status!, message: e.message }),
      });
      recs[name] = rec;
    },
    [name, channels, o] as const,
  );
}

/** Waits until the page's record satisfies `cond` (evaluated in the page), then returns it. */
async function until(page: TestPage, name: string, cond: string, timeout = 10_000): Promise<Rec> {
  await page.waitForFunction(`(() => { const r = recs[${JSON.stringify(name)}]; return ${cond}; })()`, null, {
    timeout,
    polling: 20,
  });
  return page.evaluate((name) => {
    const r = recs[name]!;
    return {
      got: r.got,
      gaps: r.gaps,
      statuses: r.statuses,
      errors: r.errors,
      sub: { cursor: r.sub.cursor, transport: r.sub.transport, state: r.sub.state },
    } as Rec;
  }, name);
}

const closeSub = (page: TestPage, name: string) => page.evaluate((name) => recs[name]!.sub.close(), name);

describe('subscribe() in Chromium', () => {
  let t: TestHub;
  let browser: TestBrowser;
  let page: TestPage;
  before(async () => {
    t = await startHub({ heartbeatMs: 500, retentionRules: [{ pattern: 'small.**', maxMessages: 3 }] });
    browser = await launchBrowser();
    page = await browser.open(`${t.url}/healthz`, { scripts: [`${t.url}/cometa.js`] });
  });
  after(async () => {
    await browser.close();
    await t.close();
  });

  for (const transport of TRANSPORTS) {
    describe(transport, () => {
      it('receives messages of several channels in publish order', async () => {
        const a = chan('a');
        const b = chan('b');
        const name = `${transport}-multi`;
        const fastBefore = t.hub.core.stats.fastPolls;
        await start(page, name, [a, b], { transports: [transport] });
        await until(page, name, "r.statuses.some((s) => s.state === 'open')");
        const ids: string[] = [];
        for (let i = 0; i < 6; i++)
          ids.push(await publish(t.url, i % 2 ? a : b, { i }, i % 3 ? 'tick' : 'message'));
        const r = await until(page, name, 'r.got.length >= 6');
        await closeSub(page, name);
        assert.equal(r.sub.transport, transport);
        // Chromium's own poll requests are plain enough for the fast lane (http/fast-poll.ts).
        if (transport === 'longpoll')
          assert.ok(t.hub.core.stats.fastPolls > fastBefore, 'the lane took the polls');
        assert.deepEqual(
          r.got.map((e) => e.id),
          ids,
        );
        assert.deepEqual(
          r.got.map((e) => e.channel),
          [b, a, b, a, b, a],
        );
        // Event names survive every transport (SSE runs in uniform mode, the name is in the envelope).
        assert.deepEqual(
          r.got.map((e) => e.event),
          ['message', 'tick', 'tick', 'message', 'tick', 'tick'],
        );
        assert.deepEqual(page.errors, []);
      });

      it('resumes with nothing lost or repeated when the hub drops the connection', async () => {
        const c = chan();
        const name = `${transport}-resume`;
        await start(page, name, [c], { transports: [transport], minDelay: 50 });
        await until(page, name, "r.statuses.some((s) => s.state === 'open')");
        const ids: string[] = [];
        for (let round = 0; round < 3; round++) {
          ids.push(await publish(t.url, c, `before ${round}`));
          for (const s of [...t.hub.core.subscribers]) {
            if (!s.channels.includes(c)) continue;
            if (round === 1) cutAbruptly(s);
            else s.end('kicked');
          }
          ids.push(await publish(t.url, c, `after ${round}`));
        }
        const r = await until(page, name, `r.got.length >= ${ids.length}`);
        await new Promise((res) => setTimeout(res, 200));
        const final = await until(page, name, 'true');
        await closeSub(page, name);
        assert.deepEqual(
          final.got.map((e) => e.id),
          ids,
        );
        assert.equal(r.gaps.length, 0);
        assert.equal(final.sub.cursor, ids.at(-1));
      });

      it('surfaces a gap when the history it needs was trimmed', async () => {
        const c = `small.${chan()}`;
        const first = await publish(t.url, c, 0);
        for (let i = 1; i < 8; i++) await publish(t.url, c, i);
        const name = `${transport}-gap`;
        await start(page, name, [c], { transports: [transport], since: first });
        const r = await until(page, name, 'r.got.length >= 3 && r.gaps.length >= 1');
        await closeSub(page, name);
        assert.equal(r.gaps.length, 1);
        assert.equal((r.gaps[0]!.data as GapData).reason, 'trimmed');
        assert.equal((r.gaps[0]!.data as GapData).next, r.got[0]!.id);
        assert.deepEqual(
          r.got.map((e) => e.data),
          [5, 6, 7],
        );
      });
    });
  }
});

describe('subscribe() in Chromium over XHR streaming', () => {
  it('reconnects invisibly when the hub recycles the stream after streamMaxBytes', async () => {
    const t = await startHub({ streamMaxBytes: 1024 });
    const browser = await launchBrowser();
    try {
      const page = await browser.open(`${t.url}/healthz`, { scripts: [`${t.url}/cometa.js`] });
      const c = chan();
      await start(page, 'recycle', [c], { transports: ['stream'] });
      await until(page, 'recycle', "r.statuses.some((s) => s.state === 'open')");
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push(await publish(t.url, c, { i, pad: 'x'.repeat(80) }));
      const r = await until(page, 'recycle', 'r.got.length >= 40');
      await closeSub(page, 'recycle');
      assert.deepEqual(
        r.got.map((e) => e.id),
        ids,
      );
      // About 5 KB through 1 KB streams: several recycles, and not one status change.
      assert.deepEqual(
        r.statuses.map((s) => s.state),
        ['connecting', 'open'],
      );
    } finally {
      await browser.close();
      await t.close();
    }
  });
});

describe('subscribe() in Chromium falls back', () => {
  it('to SSE when a proxy in front refuses the WebSocket', async () => {
    // Some proxies pass HTTP but refuse upgrades: the page falls back to SSE through the same proxy.
    // (A same-origin page's WebSocket is not refused by the hub itself: its Origin is the hub's.)
    const t = await startHub();
    const proxy = await upgradeRefusingProxy(t.url);
    const browser = await launchBrowser();
    try {
      const page = await browser.open(`${proxy.url}/healthz`, { scripts: [`${proxy.url}/cometa.js`] });
      const c = chan();
      const started = Date.now();
      await start(page, 'fallback', [c], {});
      const opened = await until(page, 'fallback', "r.statuses.some((s) => s.state === 'open')");
      assert.ok(Date.now() - started < 8000, `fell back in ${Date.now() - started} ms`);
      assert.equal(opened.sub.transport, 'sse');
      // Each status names the transport being tried and the one that failed.
      assert.deepEqual(
        opened.statuses.map((s) => [s.state, s.transport, s.failed, s.reason]),
        [
          ['connecting', 'websocket', undefined, undefined],
          ['reconnecting', 'sse', 'websocket', 'failed'],
          ['open', 'sse', undefined, undefined],
        ],
      );
      const id = await publish(t.url, c, 'over sse');
      const r = await until(page, 'fallback', 'r.got.length >= 1');
      assert.equal(r.got[0]!.id, id);
      await closeSub(page, 'fallback');
    } finally {
      await browser.close();
      await proxy.close();
      await t.close();
    }
  });
});

describe('subscribe() in Chromium ends when the hub refuses for good', () => {
  let t: TestHub;
  let authHub: TestHub;
  let browser: TestBrowser;
  before(async () => {
    t = await startHub();
    authHub = await startHub({ auth: { key: 'k'.repeat(32) } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser.close();
    await t.close();
    await authHub.close();
  });

  const cases: [string, () => TestHub, string[], Omit<SubscribeOptions, `on${string}`>, string, number][] = [
    [
      '65 channels',
      () => t,
      Array.from({ length: 65 }, (_, k) => `many.c${k}`),
      {},
      'ERR_TOO_MANY_CHANNELS',
      400,
    ],
    // What a page stores when it saved the id of a `deleted` event (null) as its cursor.
    ['a cursor "null"', () => t, ['stored.cursor'], { since: 'null' }, 'ERR_BAD_CURSOR', 400],
    ['no token on a hub that requires one', () => authHub, ['private.c'], {}, 'ERR_UNAUTHORIZED', 401],
  ];
  for (const [what, hub, channels, o, code, status] of cases) {
    it(`${what}: status failed with ${code} and one error, then nothing more`, async () => {
      const page = await browser.open(`${hub().url}/healthz`, { scripts: [`${hub().url}/cometa.js`] });
      const name = `refused-${code}`;
      const started = Date.now();
      await start(page, name, channels, o);
      const r = await until(page, name, "r.statuses.some((s) => s.state === 'failed')");
      assert.ok(Date.now() - started < 5000, `ended in ${Date.now() - started} ms`);
      await sleep(1500);
      const final = await until(page, name, 'true');
      assert.deepEqual(
        final.statuses.map((s) => [s.state, s.reason]),
        [
          ['connecting', undefined],
          ['failed', code],
        ],
      );
      assert.equal(final.sub.state, 'failed');
      assert.equal(final.errors.length, 1);
      assert.equal(final.errors[0]!.name, 'CometaError');
      assert.equal(final.errors[0]!.code, 'ERR_HTTP_STATUS');
      assert.equal(final.errors[0]!.status, status);
      assert.match(final.errors[0]!.message, new RegExp(`HTTP ${status} .*${code}`));
      assert.deepEqual(r.got, []);
      await page.close();
    });
  }
});

describe('subscribe() in Chromium to a hub of another origin', () => {
  it("ends with the hub's code read through CORS (65 channels), though the page's cookies are not allowed", async () => {
    const page0 = await startHub();
    const hub = await startHub(); // cors.origins ['*'] by default: readable, never with credentials
    const browser = await launchBrowser();
    try {
      const page = await browser.open(`${page0.url}/healthz`, { scripts: [`${page0.url}/cometa.js`] });
      const many = Array.from({ length: 65 }, (_, k) => `x.c${k}`);
      const out = await page.evaluate(
        async ([hubUrl, many]) => {
          const statuses: [string, string | undefined][] = [];
          const sub = cometa.subscribe(hubUrl, many, {
            onStatus: (s) => statuses.push([s.state, s.reason]),
          });
          const t0 = Date.now();
          while (sub.state !== 'failed' && Date.now() - t0 < 8000)
            await new Promise((r) => setTimeout(r, 20));
          return { statuses, state: sub.state };
        },
        [hub.url, many] as const,
      );
      assert.deepEqual(out.statuses, [
        ['connecting', undefined],
        ['failed', 'ERR_TOO_MANY_CHANNELS'],
      ]);
    } finally {
      await browser.close();
      await hub.close();
      await page0.close();
    }
  });
});

describe('subscribe() in Chromium while the hub is down', () => {
  it('stays on the transport that worked, reports down once, and resumes there', async () => {
    const first = await startHub();
    const { port } = first;
    const browser = await launchBrowser();
    let second: ReturnType<typeof createHub> | undefined;
    try {
      const page = await browser.open(`${first.url}/healthz`, { scripts: [`${first.url}/cometa.js`] });
      let consoleErrors = 0;
      const c = chan();
      await start(page, 'outage', [c], {});
      const opened = await until(page, 'outage', "r.statuses.some((s) => s.state === 'open')");
      assert.equal(opened.sub.transport, 'websocket');
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors++;
      });
      await first.close();
      await sleep(3000);
      const during = await until(page, 'outage', 'true');
      second = createHub({ store: 'memory', logger: false });
      await second.listen(port, '127.0.0.1');
      const r = await until(page, 'outage', "r.statuses.at(-1).state === 'open'", 20_000);
      const id = await publish(`http://127.0.0.1:${port}`, c, 'back');
      const back = await until(page, 'outage', `r.got.some((e) => e.id === ${JSON.stringify(id)})`);
      await closeSub(page, 'outage');
      const outage = r.statuses.slice(opened.statuses.length);
      // No fallback: a refused connection says the host is down, not that WebSocket is blocked.
      for (const s of outage) assert.equal(s.transport, 'websocket', JSON.stringify(outage));
      assert.deepEqual(
        outage.map((s) => [s.state, s.failed, s.reason]),
        [
          ['reconnecting', 'websocket', 'shutdown'],
          ['reconnecting', 'websocket', 'down'],
          ['open', undefined, undefined],
        ],
      );
      assert.equal(during.statuses.at(-1)!.reason, 'down');
      assert.ok(consoleErrors <= 10, `${consoleErrors} console errors in 3 s`);
      assert.equal(back.sub.transport, 'websocket');
    } finally {
      await browser.close();
      await second?.close();
    }
  });
});

describe('subscribe() in Chromium with an AbortSignal', () => {
  it('closes with reason aborted when the signal aborts, and never connects when it already has', async () => {
    const t = await startHub();
    const browser = await launchBrowser();
    try {
      const page = await browser.open(`${t.url}/healthz`, { scripts: [`${t.url}/cometa.js`] });
      const c = chan();
      const out = await page.evaluate(async (c) => {
        const live: unknown[] = [];
        const ac = new AbortController();
        const sub = cometa.subscribe(location.origin, c, {
          signal: ac.signal,
          onStatus: ({ state, reason }) => live.push([state, reason]),
        });
        while (sub.state !== 'open') await new Promise((r) => setTimeout(r, 10));
        ac.abort();
        const before: unknown[] = [];
        const gone = cometa.subscribe(location.origin, c, {
          signal: AbortSignal.abort(),
          onStatus: ({ state, reason }) => before.push([state, reason]),
        });
        await new Promise((r) => setTimeout(r, 300));
        return { live, state: sub.state, before, goneState: gone.state };
      }, c);
      assert.deepEqual(out.live, [
        ['connecting', undefined],
        ['open', undefined],
        ['closed', 'aborted'],
      ]);
      assert.equal(out.state, 'closed');
      assert.deepEqual(out.before, [
        ['connecting', undefined],
        ['closed', 'aborted'],
      ]);
      assert.equal(out.goneState, 'closed');
      assert.deepEqual(page.errors, []);
    } finally {
      await browser.close();
      await t.close();
    }
  });
});
