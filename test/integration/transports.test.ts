/**
 * The shared transport suite on the memory store (transports-sqlite and transports-redis run it
 * on the durable stores), plus graceful close and bad input on every transport.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStore } from '../../src/hub/stores/memory.js';
import type { ReadResult } from '../../src/hub/stores/store.js';
import { publish, sleep, startHub, type TestHub } from '../helpers/hub.js';
import { openSubscription } from '../helpers/transport-clients.js';
import { chan, DRIVERS, STREAMS, settled, transportSuite } from '../helpers/transport-suite.js';

transportSuite({ name: 'memory', store: () => 'memory' });

/** The real memory store, counting its history reads. */
class CountingStore extends MemoryStore {
  reads = 0;
  override read(channels: readonly string[], after: number, limit: number): Promise<ReadResult> {
    this.reads++;
    return super.read(channels, after, limit);
  }
}

describe('a poll whose cursor is up to date', () => {
  it('is held without reading history, and an older cursor still replays', async () => {
    const store = new CountingStore({ retentionFor: () => ({ maxMessages: 100, maxAgeMs: 60_000 }) });
    const t = await startHub({ store });
    try {
      const c = chan();
      const first = await publish(t.url, c, 1);
      const second = await publish(t.url, c, 2);
      // The hub learns the store's head right after start; from then on a current cursor skips the read.
      await t.hub.ready;
      await sleep(20);
      const before = store.reads;
      const r = await fetch(`${t.url}/sub/${c}?since=${second}&timeout=1`);
      assert.deepEqual(((await r.json()) as { messages: unknown[] }).messages, []);
      assert.equal(store.reads, before, 'no history read for a current cursor');
      const held = fetch(`${t.url}/sub/${c}?since=${second}`).then((r) => r.json());
      await sleep(50);
      const third = await publish(t.url, c, 3);
      const answer = (await held) as { messages: Array<{ id: string; data: unknown }>; cursor: string };
      assert.deepEqual(
        answer.messages.map((m) => m.data),
        [3],
      );
      assert.equal(answer.cursor, third);
      const reads = store.reads;
      const replay = (await (await fetch(`${t.url}/sub/${c}?since=${first}`)).json()) as {
        messages: Array<{ data: unknown }>;
      };
      assert.deepEqual(
        replay.messages.map((m) => m.data),
        [2, 3],
      );
      assert.equal(store.reads, reads + 1);
    } finally {
      await t.close();
    }
  });
});

describe('write coalescing: messages published in one turn', () => {
  for (const driver of DRIVERS) {
    it(`reach ${driver} subscribers complete and in order`, async () => {
      const t = await startHub();
      try {
        const a = chan('a');
        const b = chan('b');
        const one = openSubscription(driver, t.url, [a]);
        const both = openSubscription(driver, t.url, [a, b]);
        await settled(t, one, a);
        await settled(t, both, a);
        const before = t.hub.core.stats.coalesced;
        // One turn: 30 on a (one run), then a and b interleaved (runs end at every change).
        const order = [...Array.from({ length: 30 }, () => a), a, b, a, b, b, a];
        const ids = await Promise.all(order.map((c, i) => t.hub.publish(c, i)));
        await one.waitFor(order.filter((c) => c === a).length);
        await both.waitFor(order.length);
        assert.deepEqual(
          one.envelopes.map((e) => e.id),
          ids.filter((_, i) => order[i] === a),
        );
        assert.deepEqual(
          both.envelopes.map((e) => e.id),
          ids,
        );
        // Streams get each run in one write; polls answer frame by frame as before.
        if (STREAMS.has(driver)) assert.ok(t.hub.core.stats.coalesced - before >= 60);
        one.close();
        both.close();
      } finally {
        await t.close();
      }
    });
  }
});

describe('tcpNoDelay: false (Nagle on the socket)', () => {
  for (const driver of ['websocket', 'sse', 'stream'] as const) {
    it(`still delivers a burst over ${driver} in order`, async () => {
      const t = await startHub({ tcpNoDelay: false });
      try {
        const c = chan();
        const s = openSubscription(driver, t.url, [c]);
        await settled(t, s, c);
        for (let i = 0; i < 50; i++) await publish(t.url, c, i);
        await s.waitFor(50);
        assert.deepEqual(
          s.envelopes.map((e) => e.data),
          Array.from({ length: 50 }, (_, i) => i),
        );
        s.close();
      } finally {
        await t.close();
      }
    });
  }
});

describe('graceful close', () => {
  for (const driver of DRIVERS) {
    it(`ends ${driver} subscriptions with a final answer`, async () => {
      const t = await startHub();
      const c = chan();
      const s = openSubscription(driver, t.url, [c]);
      await settled(t, s, c);
      await publish(t.url, c, 'before close');
      await s.waitFor(1);
      const closing = t.close();
      await Promise.race([s.ended, sleep(3000).then(() => assert.fail('subscription did not end'))]);
      await closing;
      if (STREAMS.has(driver)) {
        const last = s.controls.at(-1);
        assert.equal(last?.event, 'close');
        assert.equal(last?.reason, 'shutdown');
        assert.equal(last?.cursor, s.envelopes[0]!.id);
      }
    });
  }
});

describe('bad subscribe input is a clear 400', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ limits: { maxChannelsPerSubscription: 4 } });
  });
  after(() => t.close());

  const cases: Array<[string, string, string]> = [
    ['a bad channel name', '/sub/bad..name', 'ERR_BAD_CHANNEL'],
    ['a channel with a space', '/sub/a%20b', 'ERR_BAD_CHANNEL'],
    ['broken percent-encoding', '/sub/%E0%A4%A', 'ERR_BAD_CHANNEL'],
    ['a channel over 200 characters', `/sub/${'x'.repeat(201)}`, 'ERR_BAD_CHANNEL'],
    ['too many channels', '/sub/a,b,c,d,e', 'ERR_TOO_MANY_CHANNELS'],
    ['a malformed cursor', '/sub/a?since=nope', 'ERR_BAD_CURSOR'],
    ['a timeout out of range', '/sub/a?timeout=61', 'ERR_BAD_PARAM'],
    ['a non-numeric last', '/sub/a?last=x', 'ERR_BAD_PARAM'],
    ['an unknown transport', '/sub/a?transport=carrier-pigeon', 'ERR_BAD_PARAM'],
    ['a JSONP callback that is not an identifier', '/sub/a?callback=alert(1)//', 'ERR_BAD_CALLBACK'],
    ['a JSONP callback over 128 characters', `/sub/a?callback=${'a'.repeat(129)}`, 'ERR_BAD_CALLBACK'],
  ];
  for (const [what, path, code] of cases) {
    it(`refuses ${what}`, async () => {
      const res = await fetch(t.url + path);
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code);
      assert.ok(body.error.message.length > 10);
    });
  }

  it('never echoes a bad callback into script', async () => {
    const res = await fetch(`${t.url}/sub/a?callback=${encodeURIComponent('x<script>')}`);
    const text = await res.text();
    assert.ok(!text.includes('<script>'));
  });

  it('answers 404 for unknown routes', async () => {
    const res = await fetch(`${t.url}/nowhere`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_NOT_FOUND');
  });
});
