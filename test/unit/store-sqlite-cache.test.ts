/**
 * SQLite store tail cache (src/hub/stores/tail-cache.ts): reads answered from memory must be
 * exactly what the file answers. Two stores get the same random operations (group-committed
 * appends with trims by count, age sweeps, drops, reads from random cursors, last-N) and must
 * answer every read alike: one with the cache off, one with small tails and a byte bound small
 * enough to evict and refill all the time, one with the defaults.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore, type SqliteStoreOptions } from '../../src/hub/stores/sqlite.js';
import type { StoreContext, StoredMessage } from '../../src/hub/stores/store.js';

const tmp = mkdtempSync(join(tmpdir(), 'cometa-sqlite-cache-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const tmpFile = () => join(tmp, `db${++files}`, 'cometa.db');

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHANNELS = ['a', 'b', 'c', 'd', 'e'];
/** Retention differs by channel: some trim on nearly every append, some never by count. */
const ctx: StoreContext = {
  retentionFor: (channel) => ({
    maxMessages: { a: 3, b: 8, c: 40, d: 1, e: 1000 }[channel] ?? 100,
    maxAgeMs: channel === 'e' ? 50 : 1_000_000,
  }),
};

const plain = (ms: readonly StoredMessage[]) =>
  ms.map((m) => ({
    seq: m.seq,
    channel: m.channel,
    event: m.event,
    data: m.data,
    time: m.time,
    json: m.json,
  }));

async function run(seed: number, variants: SqliteStoreOptions[]): Promise<{ reads: number; hits: number }> {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const stores = variants.map((o) => new SqliteStore(tmpFile(), ctx, o));
  for (const s of stores) {
    await s.open();
    s.listen(() => {});
  }
  let now = 1000;
  let reads = 0;
  const appended: number[] = [];
  try {
    for (let step = 0; step < 600; step++) {
      const op = rnd();
      if (op < 0.45) {
        // A group commit: several appends in one turn, on random channels.
        const batch = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => ({
          channel: pick(CHANNELS),
          data: rnd() < 0.1 ? undefined : { n: step, s: 'x'.repeat(Math.floor(rnd() * 200)) },
        }));
        now += Math.floor(rnd() * 20);
        const results = await Promise.all(
          stores.map((s) => Promise.all(batch.map((b) => s.append(b.channel, 'm', b.data, now)))),
        );
        for (const r of results.slice(1))
          assert.deepEqual(plain(r), plain(results[0]!), `seed ${seed} step ${step}`);
        for (const m of results[0]!) appended.push(m.seq);
      } else if (op < 0.85) {
        const head = await stores[0]!.head();
        const channels = CHANNELS.filter(() => rnd() < 0.4);
        if (channels.length === 0) channels.push(pick(CHANNELS));
        // Mostly the resume reads the cache is for: a cursor near the head, or at (or just before) a
        // recent message, where a tail's boundary is; some from far back.
        const r = rnd();
        const recent = appended.slice(-40);
        const cursor =
          r < 0.4
            ? Math.max(0, head - Math.floor(rnd() * 12))
            : r < 0.75 && recent.length > 0
              ? Math.max(0, pick(recent) - Math.floor(rnd() * 2))
              : Math.floor(rnd() * (head + 1));
        const limit = 1 + Math.floor(rnd() * 20);
        const answers = await Promise.all(stores.map((s) => s.read(channels, cursor, limit)));
        const first = answers[0]!;
        for (const r of answers.slice(1)) {
          assert.deepEqual(plain(r.messages), plain(first.messages), `seed ${seed} step ${step} read`);
          assert.deepEqual(r.gaps, first.gaps, `seed ${seed} step ${step} gaps`);
          assert.equal(r.more, first.more);
          assert.equal(r.head, first.head);
        }
        reads++;
      } else if (op < 0.93) {
        const channels = CHANNELS.filter(() => rnd() < 0.5);
        const n = Math.floor(rnd() * 12);
        const answers = await Promise.all(stores.map((s) => s.last(channels, n)));
        for (const r of answers.slice(1))
          assert.deepEqual(plain(r.messages), plain(answers[0]!.messages), `seed ${seed} step ${step} last`);
      } else if (op < 0.97) {
        now += Math.floor(rnd() * 60);
        for (const s of stores) await s.sweep(now);
      } else {
        const channel = pick(CHANNELS);
        for (const s of stores) await s.drop(channel);
      }
    }
    const hits = stores.slice(1).reduce((n, s) => n + s.cacheStats.hits, 0);
    for (const s of stores.slice(1)) assert.ok(s.cacheStats.bytes <= (s === stores[1] ? 2000 : 16 * 2 ** 20));
    return { reads, hits };
  } finally {
    for (const s of stores) await s.close();
  }
}

describe('sqlite store: tail cache', () => {
  it('answers every read and last-N exactly as the file does (random operations, 12 seeds)', async () => {
    let reads = 0;
    let hits = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const r = await run(seed, [{ cacheMessages: 0 }, { cacheMessages: 4, cacheBytes: 2000 }, {}]);
      reads += r.reads;
      hits += r.hits;
    }
    // The comparison means something only if the cached stores did answer from memory.
    assert.ok(reads > 1000, `reads ${reads}`);
    assert.ok(hits > reads / 2, `hits ${hits} of ${2 * reads} reads`);
  });

  it('keeps the newest N of a longer read, and sends cursors before them to the file', async () => {
    const cached = new SqliteStore(tmpFile(), ctx, { cacheMessages: 4 });
    const plainStore = new SqliteStore(tmpFile(), ctx, { cacheMessages: 0 });
    const both = [cached, plainStore];
    for (const s of both) {
      await s.open();
      s.listen(() => {});
      for (let i = 1; i <= 10; i++) await s.append('c', 'm', i, i); // seqs 1..10 (c keeps 40)
    }
    try {
      for (const s of both) await s.read(['c'], 0, 100); // all ten; the tail keeps 7..10
      const hits = cached.cacheStats.hits;
      for (const after of [5, 6, 7, 9, 10]) {
        const [a, b] = await Promise.all(both.map((s) => s.read(['c'], after, 100)));
        assert.deepEqual(plain(a!.messages), plain(b!.messages), `after ${after}`);
        assert.deepEqual(a!.gaps, b!.gaps);
      }
      // 6 and above are answered from the tail (it holds everything after 6); 5 is not.
      assert.equal(cached.cacheStats.hits, hits + 4);
      assert.deepEqual(
        (await cached.last(['c'], 4)).messages.map((m) => m.seq),
        [7, 8, 9, 10],
      );
      assert.deepEqual(
        (await cached.last(['c'], 6)).messages.map((m) => m.seq),
        [5, 6, 7, 8, 9, 10],
      );
    } finally {
      for (const s of both) await s.close();
    }
  });

  it('answers a resume read from memory after the first, and follows appends, trims and drops', async () => {
    const store = new SqliteStore(tmpFile(), ctx);
    await store.open();
    store.listen(() => {});
    try {
      for (let i = 1; i <= 5; i++) await store.append('c', 'm', i, i);
      let r = await store.read(['c'], 4, 10); // first read of c: fills its tail
      assert.deepEqual(
        r.messages.map((m) => m.data),
        [5],
      );
      const before = store.cacheStats.hits;
      await store.append('c', 'm', 6, 6);
      r = await store.read(['c'], 5, 10);
      assert.deepEqual(
        r.messages.map((m) => m.seq),
        [6],
      );
      assert.equal(store.cacheStats.hits, before + 1);
      assert.equal(store.cacheStats.channels, 1);
      // Channel a keeps 3: its floor rises with each append past 3, and a cursor below it gets a gap.
      for (let i = 0; i < 5; i++) await store.append('a', 'm', i, i);
      r = await store.read(['a'], 0, 10);
      assert.deepEqual(r.gaps, [{ channel: 'a', reason: 'trimmed' }]);
      for (let i = 0; i < 4; i++) await store.append('a', 'm', i, i); // seqs 12..15: 13, 14, 15 kept
      const hits = store.cacheStats.hits;
      r = await store.read(['a'], 13, 10);
      assert.deepEqual(
        r.messages.map((m) => m.seq),
        [14, 15],
      );
      assert.deepEqual(r.gaps, []);
      assert.equal(store.cacheStats.hits, hits + 1);
      r = await store.read(['a'], 10, 10); // below the floor (12): from the file, with the gap
      assert.deepEqual(
        r.messages.map((m) => m.seq),
        [13, 14, 15],
      );
      assert.deepEqual(r.gaps, [{ channel: 'a', reason: 'trimmed' }]);
      await store.drop('c');
      r = await store.read(['c'], 5, 10);
      assert.deepEqual(r.messages, []);
      assert.deepEqual(r.gaps, [{ channel: 'c', reason: 'deleted' }]);
    } finally {
      await store.close();
    }
  });
});
