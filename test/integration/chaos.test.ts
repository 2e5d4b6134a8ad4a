/**
 * Chaos: for every transport, 20 subscribers (the real subscribe() client: in Node for websocket,
 * sse, stream and longpoll; in Chromium for jsonp) on 3 channels receive 2,000 messages while the
 * hub kills random connections every few hundred ms (half with a close frame, half by cutting the
 * socket). With enough history every subscriber ends with every message exactly once, in order per
 * channel, and no gap. With history too small, gaps appear and nothing after a gap is lost.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  type SubscribeOptions,
  type SubscribeTransport,
  type Subscription,
  subscribe,
} from '../../src/client/subscribe/index.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { checkDelivery, startKiller, trackSockets } from '../helpers/chaos.js';
import { sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';

const SUBSCRIBERS = 20;
const MESSAGES = 2000;
const NODE_TRANSPORTS: SubscribeTransport[] = ['websocket', 'sse', 'stream', 'longpoll'];

/** Publishes MESSAGES round-robin on the channels, in batches, so kills land mid-flow. */
export async function publishAll(t: TestHub, channels: string[], batch: number, pauseMs: number) {
  const published = new Map<string, string[]>(channels.map((c) => [c, []]));
  for (let i = 0; i < MESSAGES; i += batch) {
    for (let k = i; k < Math.min(MESSAGES, i + batch); k++) {
      const c = channels[k % channels.length]!;
      published.get(c)!.push(await t.hub.publish(c, { k }));
    }
    await sleep(pauseMs);
  }
  return published;
}

async function run(
  transport: SubscribeTransport,
  t: TestHub,
  sockets: Set<Socket>,
  prefix: string,
  small: boolean,
) {
  const channels = [`${prefix}.a`, `${prefix}.b`, `${prefix}.c`];
  const subs = Array.from({ length: SUBSCRIBERS }, () => {
    const got: Envelope[] = [];
    const sub = subscribe(t.url, channels, {
      transports: [transport],
      WebSocket: WebSocket as unknown as NonNullable<SubscribeOptions['WebSocket']>,
      minDelay: 50,
      maxDelay: 400,
      onMessage: (e) => got.push(e),
      onGap: (e) => got.push(e),
    });
    return { sub, got };
  });
  try {
    return await check(subs, t, sockets, channels, small);
  } finally {
    for (const s of subs) s.sub.close();
  }
}

async function check(
  subs: Array<{ sub: Subscription; got: Envelope[] }>,
  t: TestHub,
  sockets: Set<Socket>,
  channels: string[],
  small: boolean,
) {
  await waitFor(() => subs.every((s) => s.sub.state === 'open'), 30_000, 'all subscribers open');
  const killer = startKiller(t.hub, 200, sockets);
  let published: Map<string, string[]>;
  try {
    published = await publishAll(t, channels, small ? 50 : 20, small ? 5 : 15);
  } finally {
    killer.stop();
  }
  const total = (g: Envelope[]) => g.filter((e) => e.id !== null).length;
  const lastIds = channels.map((c) => published.get(c)!.at(-1)!);
  // Done when every subscriber has the last message of every channel (and, without loss, all).
  await waitFor(
    () =>
      subs.every(
        (s) => lastIds.every((id) => s.got.some((e) => e.id === id)) && (small || total(s.got) >= MESSAGES),
      ),
    60_000,
    'every subscriber to catch up',
  );
  await sleep(100);
  const problems = subs.flatMap((s, i) => checkDelivery(s.got, published, small).map((p) => `#${i} ${p}`));
  assert.deepEqual(problems, []);
  const gaps = subs.reduce((n, s) => n + s.got.filter((e) => e.event === 'gap').length, 0);
  return { kills: killer.kills(), gaps, received: subs.reduce((n, s) => n + total(s.got), 0) };
}

describe('chaos', () => {
  let t: TestHub;
  let sockets: Set<Socket>;
  before(async () => {
    t = await startHub({
      heartbeatMs: 1000,
      streamMaxBytes: 16 * 1024,
      retention: { maxMessages: 5000 },
      retentionRules: [{ pattern: 'small.**', maxMessages: 10 }],
    });
    sockets = trackSockets([t.hub.server!]);
  });
  after(() => t.close());

  for (const transport of NODE_TRANSPORTS) {
    it(`${transport}: every message exactly once, in order, no gap, while connections are killed`, async () => {
      const r = await run(transport, t, sockets, `big.${transport}`, false);
      assert.ok(r.kills >= 5, `only ${r.kills} kills`);
      assert.equal(r.gaps, 0);
      assert.equal(r.received, SUBSCRIBERS * MESSAGES);
    });

    it(`${transport}: with history too small, gaps appear and nothing after them is lost`, async () => {
      const r = await run(transport, t, sockets, `small.${transport}`, true);
      assert.ok(r.gaps > 0, 'no gap appeared');
    });
  }
});

describe('chaos in Chromium (jsonp)', () => {
  let t: TestHub;
  let browser: TestBrowser;
  // Browsers hold at most 6 connections per host:port, and every subscriber holds one poll: the
  // same hub also listens on 3 more ports so 20 subscribers spread over 4 connection groups.
  const extra: Server[] = [];
  const urls: string[] = [];
  let sockets: Set<Socket>;
  before(async () => {
    t = await startHub({
      retention: { maxMessages: 5000 },
      retentionRules: [{ pattern: 'small.**', maxMessages: 10 }],
    });
    urls.push(t.url);
    for (let i = 0; i < 3; i++) {
      const server = createServer(t.hub.handler);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      extra.push(server);
      urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
    sockets = trackSockets([t.hub.server!, ...extra]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser.close();
    for (const s of extra) {
      s.closeAllConnections();
      s.close();
    }
    await t.close();
  });

  for (const small of [false, true]) {
    it(
      small
        ? 'jsonp: with history too small, gaps appear and nothing after them is lost'
        : 'jsonp: every message exactly once, in order, no gap, while connections are killed',
      async () => {
        const page = await browser.open(`${t.url}/healthz`, { scripts: [`${t.url}/cometa.js`] });
        const prefix = small ? 'small.jsonp' : 'big.jsonp';
        const channels = [`${prefix}.a`, `${prefix}.b`, `${prefix}.c`];
        await page.evaluate(
          ([urls, channels, count]) => {
            const g = globalThis as unknown as {
              chaos: Array<{ got: unknown[]; sub: { state: string; close(): void } }>;
            };
            g.chaos = Array.from({ length: count }, (_, i) => {
              const got: unknown[] = [];
              const sub = cometa.subscribe(urls[i % urls.length]!, channels, {
                transports: ['jsonp'],
                minDelay: 50,
                maxDelay: 400,
                onMessage: (e) => got.push(e),
                onGap: (e) => got.push(e),
              });
              return { got, sub };
            });
          },
          [urls, channels, SUBSCRIBERS] as const,
        );
        // A failed wait leaves the page's subscribers running: the page is closed either way.
        const closePage = () => page.close();
        const opened = page.waitForFunction("globalThis.chaos.every((s) => s.sub.state === 'open')", null, {
          timeout: 30_000,
          polling: 50,
        });
        await opened.catch(async (e) => {
          await closePage();
          throw e;
        });
        const killer = startKiller(t.hub, 200, sockets);
        const published = await publishAll(t, channels, small ? 50 : 20, small ? 5 : 15).finally(() =>
          killer.stop(),
        );
        const lastIds = channels.map((c) => published.get(c)!.at(-1)!);
        await page
          .waitForFunction(
            `globalThis.chaos.every((s) => ${JSON.stringify(lastIds)}.every((id) => s.got.some((e) => e.id === id))${
              small ? '' : ` && s.got.filter((e) => e.id !== null).length >= ${MESSAGES}`
            })`,
            null,
            { timeout: 60_000, polling: 100 },
          )
          .catch(async (e) => {
            await closePage();
            throw e;
          });
        const got = (await page.evaluate(() => {
          const g = globalThis as unknown as { chaos: Array<{ got: unknown[]; sub: { close(): void } }> };
          for (const s of g.chaos) s.sub.close();
          return g.chaos.map((s) => s.got);
        })) as Envelope[][];
        await page.close();
        const problems = got.flatMap((g, i) => checkDelivery(g, published, small).map((p) => `#${i} ${p}`));
        assert.deepEqual(problems, []);
        const gaps = got.reduce((n, g) => n + g.filter((e) => e.event === 'gap').length, 0);
        if (small) assert.ok(gaps > 0, 'no gap appeared');
        else {
          assert.equal(gaps, 0);
          assert.equal(
            got.reduce((n, g) => n + g.filter((e) => e.id !== null).length, 0),
            SUBSCRIBERS * MESSAGES,
          );
          assert.ok(killer.kills() >= 5, `only ${killer.kills()} kills`);
        }
      },
    );
  }
});
