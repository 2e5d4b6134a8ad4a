/**
 * The shared transport suite: the same cases against every subscribe transport, so each one
 * keeps the protocol's promises (delivery, multi-channel order, resume, last=N, gaps, timeouts,
 * heartbeats). `transportSuite(store)` runs it with hubs on the given store, so the suite also
 * checks every store (memory, SQLite, Redis) behind every transport.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HubOptions } from '../../src/hub/index.js';
import type { Envelope, GapData } from '../../src/protocol/envelope.js';
import { publish, sleep, startHub, type TestHub, waitFor } from './hub.js';
import { type DriverName, openSubscription, type TestSubscription } from './transport-clients.js';

export const DRIVERS: DriverName[] = ['websocket', 'sse', 'stream', 'longpoll', 'jsonp', 'poll'];
export const STREAMS = new Set<DriverName>(['websocket', 'sse', 'stream']);

const messages = (es: Envelope[]) => es.filter((e) => e.id !== null);

/**
 * Waits until a subscription started with no cursor is in place on the hub, so a message published
 * next cannot predate it: streams have their open frame, polls an answer or a held request. (A fixed
 * sleep is not enough on a loaded machine.)
 */
export async function settled(t: TestHub, s: TestSubscription, channel: string): Promise<void> {
  await waitFor(
    () => s.cursor !== undefined || t.hub.core.subscriberCount(channel) > 0,
    10_000,
    'subscribed',
  );
  await sleep(50);
}
let n = 0;
/** A fresh channel name per test, so tests sharing a hub never see each other's messages. */
export const chan = (p = 'c') => `t${++n}.${p}`;

/** Where each hub of the suite keeps its history: called once per transport, for a fresh store. */
export interface SuiteStore {
  name: string;
  store(driver: DriverName): Exclude<HubOptions['store'], undefined>;
}

export function transportSuite(s: SuiteStore): void {
  for (const driver of DRIVERS) {
    describe(`transport: ${driver} (${s.name} store)`, () => {
      let t: TestHub;
      before(async () => {
        t = await startHub({
          store: s.store(driver),
          heartbeatMs: 100,
          retentionRules: [{ pattern: 'small.**', maxMessages: 3 }],
        });
      });
      after(() => t.close());

      it('delivers a published message as one envelope', async () => {
        const c = chan();
        const s = openSubscription(driver, t.url, [c]);
        await settled(t, s, c);
        const id = await publish(t.url, c, { score: [101, 99] }, 'score');
        const [e] = messages(await s.waitFor(1));
        s.close();
        assert.deepEqual(Object.keys(e!).sort(), ['channel', 'data', 'event', 'id', 'time']);
        assert.equal(e!.id, id);
        assert.equal(e!.channel, c);
        assert.equal(e!.event, 'score');
        assert.deepEqual(e!.data, { score: [101, 99] });
        assert.ok(Math.abs(e!.time - Date.now()) < 5000);
      });

      it('delivers several channels on one subscription, in publish order', async () => {
        const a = chan('a');
        const b = chan('b');
        const s = openSubscription(driver, t.url, [a, b]);
        await settled(t, s, a);
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) ids.push(await publish(t.url, i % 2 ? a : b, i));
        const got = messages(await s.waitFor(10));
        s.close();
        assert.deepEqual(
          got.map((e) => e.id),
          ids,
        );
        assert.deepEqual(
          got.map((e) => e.data),
          [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
      });

      it('resumes from a cursor with every later message exactly once', async () => {
        const a = chan('a');
        const b = chan('b');
        const s1 = openSubscription(driver, t.url, [a, b]);
        await settled(t, s1, a);
        await publish(t.url, a, 1);
        await publish(t.url, b, 2);
        await s1.waitFor(2);
        const cursor = s1.cursor!;
        s1.close();
        const missed = [await publish(t.url, a, 3), await publish(t.url, b, 4), await publish(t.url, a, 5)];
        await publish(t.url, chan('other'), 'not subscribed');
        const s2 = openSubscription(driver, t.url, [a, b], { since: cursor });
        const got = messages(await s2.waitFor(3));
        await sleep(100);
        s2.close();
        assert.deepEqual(
          got.map((e) => e.id),
          missed,
        );
        assert.equal(messages(s2.envelopes).length, 3, 'no duplicates');
      });

      it('starts with new messages only when no cursor is given', async () => {
        const c = chan();
        await publish(t.url, c, 'old');
        const s = openSubscription(driver, t.url, [c]);
        await settled(t, s, c);
        await publish(t.url, c, 'new');
        const got = messages(await s.waitFor(1));
        await sleep(50);
        s.close();
        assert.deepEqual(
          got.map((e) => e.data),
          ['new'],
        );
      });

      it('replays the last N messages of each channel with ?last=N', async () => {
        const a = chan('a');
        const b = chan('b');
        for (let i = 0; i < 5; i++) await publish(t.url, a, `a${i}`);
        for (let i = 0; i < 5; i++) await publish(t.url, b, `b${i}`);
        const s = openSubscription(driver, t.url, [a, b], { last: 2 });
        const got = messages(await s.waitFor(4));
        await sleep(50);
        s.close();
        assert.deepEqual(
          got.map((e) => e.data),
          ['a3', 'a4', 'b3', 'b4'],
        );
      });

      it('reports a gap when the cursor is older than the retained history, then continues', async () => {
        const c = `small.${chan()}`;
        const first = await publish(t.url, c, 0);
        for (let i = 1; i < 8; i++) await publish(t.url, c, i);
        const s = openSubscription(driver, t.url, [c], { since: first });
        const got = await s.waitFor(4);
        s.close();
        assert.equal(got[0]!.event, 'gap');
        assert.equal(got[0]!.id, null);
        assert.equal(got[0]!.channel, c);
        const gap = got[0]!.data as GapData;
        assert.equal(gap.reason, 'trimmed');
        assert.equal(gap.since, first);
        assert.equal(gap.next, got[1]!.id);
        assert.deepEqual(
          got.slice(1).map((e) => e.data),
          [5, 6, 7],
        );
      });

      it('reports a gap for a cursor from another epoch (a hub that lost its memory)', async () => {
        const c = chan();
        await publish(t.url, c, 'kept');
        const s = openSubscription(driver, t.url, [c], { since: 'zzzzzz-3' });
        const got = await s.waitFor(2);
        s.close();
        assert.equal(got[0]!.event, 'gap');
        assert.equal((got[0]!.data as GapData).reason, 'epoch');
        assert.equal(got[1]!.data, 'kept');
      });

      if (STREAMS.has(driver)) {
        it('sends an open frame with a cursor and heartbeats while idle', async () => {
          const c = chan();
          const s = openSubscription(driver, t.url, [c]);
          // Heartbeats every 100 ms: wait for two (by condition: a loaded machine delays timers).
          await waitFor(() => s.heartbeats >= 2, 10_000, 'two heartbeats').catch(() => {});
          s.close();
          assert.equal(s.controls[0]?.event, 'open');
          assert.match(s.controls[0]!.cursor, /^[a-z0-9]+-\d+$/);
          assert.ok(s.heartbeats >= 2, `heartbeats: ${s.heartbeats}`);
        });
      } else if (driver !== 'poll') {
        it('answers a held poll with no messages and the cursor after ?timeout=', async () => {
          const c = chan();
          const started = Date.now();
          const q = driver === 'jsonp' ? '&callback=cb' : '';
          const res = await fetch(`${t.url}/sub/${c}?timeout=1${q}`);
          const text = await res.text();
          const elapsed = Date.now() - started;
          assert.equal(res.status, 200);
          const body = JSON.parse(driver === 'jsonp' ? text.slice('/**/cb('.length, -2) : text);
          assert.deepEqual(body.messages, []);
          assert.match(body.cursor, /^[a-z0-9]+-\d+$/);
          assert.ok(elapsed >= 950 && elapsed < 2500, `answered after ${elapsed} ms`);
        });
      }
    });
  }
}
