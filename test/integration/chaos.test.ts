/**
 * Chaos: for every transport, 20 subscribers (the real subscribe() client: in Node for websocket,
 * sse, stream and longpoll; in Chromium for jsonp) on 3 channels receive 2,000 messages while the
 * hub kills random connections every few hundred ms (half with a close frame, half by cutting the
 * socket). With enough history every subscriber ends with every message exactly once, in order per
 * channel, and no gap. With history too small, gaps appear and nothing after a gap is lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  type SubscribeOptions,
  type SubscribeTransport,
  subscribe,
} from '../../src/client/subscribe/index.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { checkDelivery, startKiller } from '../helpers/chaos.js';
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

async function run(transport: SubscribeTransport, t: TestHub, prefix: string, small: boolean) {
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
  await waitFor(() => subs.every((s) => s.sub.state === 'open'), 10_000, 'all subscribers open');
  const killer = startKiller(t.hub, 250);
  const published = await publishAll(t, channels, small ? 50 : 20, small ? 5 : 30);
  killer.stop();
  const total = (g: Envelope[]) => g.filter((e) => e.id !== null).length;
  const lastIds = channels.map((c) => published.get(c)!.at(-1)!);
  // Done when every subscriber has the last message of every channel (and, without loss, all).
  await waitFor(
    () =>
      subs.every(
        (s) => lastIds.every((id) => s.got.some((e) => e.id === id)) && (small || total(s.got) >= MESSAGES),
      ),
    25_000,
    'every subscriber to catch up',
  );
  await sleep(100);
  for (const s of subs) s.sub.close();
  const problems = subs.flatMap((s, i) => checkDelivery(s.got, published, small).map((p) => `#${i} ${p}`));
  assert.deepEqual(problems, []);
  const gaps = subs.reduce((n, s) => n + s.got.filter((e) => e.event === 'gap').length, 0);
  return { kills: killer.kills(), gaps, received: subs.reduce((n, s) => n + total(s.got), 0) };
}

describe('chaos', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({
      heartbeatMs: 1000,
      streamMaxBytes: 16 * 1024,
      retention: { maxMessages: 5000 },
      retentionRules: [{ pattern: 'small.**', maxMessages: 10 }],
    });
  });
  after(() => t.close());

  for (const transport of NODE_TRANSPORTS) {
    it(`${transport}: every message exactly once, in order, no gap, while connections are killed`, async () => {
      const r = await run(transport, t, `big.${transport}`, false);
      assert.ok(r.kills >= 5, `only ${r.kills} kills`);
      assert.equal(r.gaps, 0);
      assert.equal(r.received, SUBSCRIBERS * MESSAGES);
    });

    it(`${transport}: with history too small, gaps appear and nothing after them is lost`, async () => {
      const r = await run(transport, t, `small.${transport}`, true);
      assert.ok(r.gaps > 0, 'no gap appeared');
    });
  }
});
