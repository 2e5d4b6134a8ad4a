/**
 * Presence with subscribe() in Chromium on long-poll: `presence: true` and `onPresence` see another
 * client join and leave, in order with the messages, even when the join happens between two
 * polls (a proxy in front of the hub holds each poll a while before passing it on, so the join
 * lands while no poll is attached; the next poll's `psince` catches it up).
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, type TestBrowser, type TestPage } from '../helpers/browser.js';
import { publish, startHub, type TestHub } from '../helpers/hub.js';

declare global {
  var presenceRecs: Record<string, { order: string[]; sub: { close(): void } }>;
}

/** A proxy in front of `target` that holds every presence poll `delayMs` before passing it on. */
async function slowPollProxy(
  target: string,
  delayMs: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const t = new URL(target);
  const server = createServer((req, res) => {
    const pass = () => {
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
    };
    if (req.url?.startsWith('/sub/') && req.url.includes('presence=1')) setTimeout(pass, delayMs);
    else pass();
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

/** Starts a subscription in the page recording messages (their data) and joins/leaves in one list. */
function start(page: TestPage, name: string, channel: string, o: Record<string, unknown>) {
  return page.evaluate(
    ([name, channel, o]) => {
      globalThis.presenceRecs ??= {};
      const order: string[] = [];
      const sub = cometa.subscribe(location.origin, channel, {
        ...o,
        onMessage: (e) => order.push(String(e.data)),
        onPresence: (e) => order.push(`${e.event}:${e.data.member}`),
      });
      presenceRecs[name] = { order, sub };
    },
    [name, channel, o] as const,
  );
}

const order = (page: TestPage, name: string) => page.evaluate((name) => presenceRecs[name]!.order, name);

async function until(page: TestPage, name: string, n: number): Promise<void> {
  await page.waitForFunction(`(presenceRecs[${JSON.stringify(name)}]?.order.length ?? 0) >= ${n}`, null, {
    timeout: 10_000,
    polling: 20,
  });
}

describe('presence with subscribe() in Chromium', () => {
  let t: TestHub;
  let proxy: Awaited<ReturnType<typeof slowPollProxy>>;
  let browser: TestBrowser;
  let watcher: TestPage;
  let other: TestPage;
  before(async () => {
    t = await startHub({
      channels: [{ pattern: 'lobby.*', presence: 'anonymous', subscribe: 'public', publish: 'public' }],
      presence: { coalesceMs: 100 },
    });
    proxy = await slowPollProxy(t.url, 500);
    browser = await launchBrowser();
    watcher = await browser.open(`${proxy.url}/healthz`, { scripts: [`${proxy.url}/cometa.js`] });
    other = await browser.open(`${t.url}/healthz`, { scripts: [`${t.url}/cometa.js`] });
  });
  after(async () => {
    await browser.close();
    await proxy.close();
    await t.close();
  });

  it("longpoll with presence: true sees another client's join and leave between its polls, in order", async () => {
    const channel = 'lobby.browser';
    await start(watcher, 'w', channel, { transports: ['longpoll'], presence: true });
    // The watcher is open once its first poll was answered; from then on each poll waits 500 ms in the proxy.
    await watcher.waitForFunction('presenceRecs.w.sub.state === "open"', null, {
      timeout: 10_000,
      polling: 20,
    });
    await publish(t.url, channel, 'm1');
    await until(watcher, 'w', 1);
    // The answer to m1 came back: the next poll is in the proxy for 500 ms while bob joins.
    await start(other, 'bob', channel, { transports: ['sse'], member: 'bob' });
    await until(watcher, 'w', 2);
    await publish(t.url, channel, 'm2');
    await until(watcher, 'w', 3);
    await other.evaluate(() => presenceRecs.bob!.sub.close());
    await until(watcher, 'w', 4);
    await watcher.evaluate(() => presenceRecs.w!.sub.close());
    assert.deepEqual(await order(watcher, 'w'), ['m1', 'join:bob', 'm2', 'leave:bob']);
    assert.deepEqual(watcher.errors, []);
  });
});
