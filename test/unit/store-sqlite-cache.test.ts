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
import { rng as prng } from '../../scripts/fuzz.js';
import { SqliteStore, type SqliteStoreOptions } from '../../src/hub/stores/sqlite.js';
import type { StoreContext, StoredMessage } from '../../src/hub/stores/store.js';
import { TailCache } from '../../src/hub/stores/tail-cache.js';

const tmp = mkdtempSync(join(tmpdir(), 'cometa-sqlite-cache-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const tmpFile = () => join(tmp, `db${++files}`, 'cometa.db');

const CHANNELS = ['a', 'b', 'c', 'd', 'e', ...Array.from({ length: 19 }, (_, i) => `x${i}`)];
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
        // Mostly one channel (a subscriber of one), sometimes several.
        const channels = rnd() < 0.7 ? [pick(CHANNELS)] : CHANNELS.filter(() => rnd() < 0.15);
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
        const channels = CHANNELS.filter(() => rnd() < 0.2);
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
    for (const s of stores.slice(1)) assert.ok(s.cacheStats.bytes <= (s === stores[1] ? 8000 : 16 * 2 ** 20));
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
      const r = await run(seed, [{ cacheMessages: 0 }, { cacheMessages: 4, cacheBytes: 8000 }, {}]);
      reads += r.reads;
      hits += r.hits;
    }
    // The comparison means something only if the cached stores did answer from memory.
    assert.ok(reads > 1000, `reads ${reads}`);
    assert.ok(hits > reads / 2, `hits ${hits} of ${2 * reads} reads`);
  });

  it('is up to date for a listener that reads, or publishes and flushes, while a batch is delivered', async () => {
    // t keeps 2 messages; the listener reads t synchronously during delivery (the body of read()
    // runs before its first await) and, once, publishes on x and calls head() (a nested flush).
    const ctx2: StoreContext = {
      retentionFor: (c) => ({ maxMessages: c === 't' ? 2 : 1000, maxAgeMs: 1e12 }),
    };
    const answers = async (cacheMessages: number) => {
      const s = new SqliteStore(tmpFile(), ctx2, { cacheMessages });
      await s.open();
      const seen: unknown[] = [];
      let arm = false;
      let nested = false;
      s.listen((e) => {
        if (e.type !== 'message' || !arm) return;
        void s.read([e.message.channel], 0, 100).then((r) => seen.push(plain(r.messages), r.gaps));
        if (nested) {
          nested = false;
          void s.append('x', 'm', 'side', 1);
          void s.head();
        }
      });
      try {
        arm = true;
        await Promise.all([1, 2, 3].map((i) => s.append('c', 'm', i, 1))); // c has no tail yet
        await s.read(['t'], 0, 100); // t gets an empty tail
        nested = true;
        await Promise.all([1, 2, 3, 4].map((i) => s.append('t', 'm', i, 1))); // trims in the batch
        await new Promise(setImmediate);
        arm = false;
        for (const ch of ['c', 't', 'x']) {
          const r = await s.read([ch], 0, 100);
          seen.push(ch, plain(r.messages), r.gaps, plain((await s.last([ch], 5)).messages));
        }
        return seen;
      } finally {
        await s.close();
      }
    };
    assert.deepEqual(await answers(32), await answers(0));
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

/**
 * The same comparison with failures mixed in: a transaction rolled back part way (retention
 * throws for the batch's last channel after earlier inserts and trims), a listener that throws,
 * failed age sweeps, close and reopen, retention changed while running (down to 0), limit 0,
 * cursors past the head and channels never published.
 */
async function runWithFailures(seed: number, variants: SqliteStoreOptions[]): Promise<number> {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const names = ['a', 'b', 'c', 'd', 'e', 'z'];
  let failOn: string | null = null;
  let maxFor: Record<string, number> = { a: 3, b: 8, c: 40, d: 1, e: 1000, z: 0 };
  const failing: StoreContext = {
    retentionFor: (c) => {
      if (c === failOn) throw Object.assign(new Error('injected'), { code: 'SQLITE_IOERR' });
      return { maxMessages: maxFor[c] ?? 100, maxAgeMs: c === 'e' || c === 'c' ? 50 : 1e9 };
    },
  };
  const settle = (p: Promise<StoredMessage>) =>
    p.then(
      (m) => ['ok', plain([m])],
      (e: Error) => ['error', e.message],
    );
  const stores = variants.map((o) => new SqliteStore(tmpFile(), failing, o));
  let throwEvery = 0;
  for (const s of stores) {
    await s.open();
    s.listen((e) => {
      if (e.type === 'message' && throwEvery && e.message.seq % throwEvery === 0) throw new Error('listener');
    });
  }
  let now = 1000;
  try {
    for (let step = 0; step < 500; step++) {
      const op = rnd();
      const at = `seed ${seed} step ${step}`;
      if (op < 0.4) {
        const batch = Array.from({ length: 1 + Math.floor(rnd() * 7) }, () => ({
          channel: pick(names),
          data: rnd() < 0.1 ? undefined : { n: step, s: 'x'.repeat(Math.floor(rnd() * 100)) },
        }));
        now += Math.floor(rnd() * 20);
        failOn = rnd() < 0.1 ? batch[batch.length - 1]!.channel : null;
        throwEvery = rnd() < 0.2 ? 3 : 0;
        const results = await Promise.all(
          stores.map((s) => Promise.all(batch.map((b) => settle(s.append(b.channel, 'm', b.data, now))))),
        );
        failOn = null;
        throwEvery = 0;
        for (const r of results.slice(1)) assert.deepEqual(r, results[0], `${at} append`);
      } else if (op < 0.8) {
        const head = await stores[0]!.head();
        const channels = names.filter(() => rnd() < 0.4);
        if (rnd() < 0.05) channels.push(`never${step}`);
        const cursor =
          rnd() < 0.7 ? Math.max(0, head - Math.floor(rnd() * 12)) : Math.floor(rnd() * (head + 3));
        const limit = Math.floor(rnd() * 20);
        const answers = await Promise.all(stores.map((s) => s.read(channels, cursor, limit)));
        for (const r of answers.slice(1)) {
          assert.deepEqual(plain(r.messages), plain(answers[0]!.messages), `${at} read`);
          assert.deepEqual(r.gaps, answers[0]!.gaps, `${at} gaps`);
          assert.equal(r.more, answers[0]!.more);
        }
      } else if (op < 0.88) {
        const channels = names.filter(() => rnd() < 0.5);
        const n = Math.floor(rnd() * 12);
        const answers = await Promise.all(stores.map((s) => s.last(channels, n)));
        for (const r of answers.slice(1))
          assert.deepEqual(plain(r.messages), plain(answers[0]!.messages), `${at} last`);
      } else if (op < 0.93) {
        now += Math.floor(rnd() * 60);
        failOn = rnd() < 0.2 ? pick(names) : null;
        const outcomes = new Set<string>();
        for (const s of stores) {
          try {
            await s.sweep(now);
            outcomes.add('ok');
          } catch {
            outcomes.add('error');
          }
        }
        failOn = null;
        assert.equal(outcomes.size, 1, `${at} sweep`);
      } else if (op < 0.96) {
        const channel = pick(names);
        for (const s of stores) await s.drop(channel);
      } else if (op < 0.98) {
        for (const s of stores) {
          await s.close();
          await s.open();
        }
      } else maxFor = { ...maxFor, [pick(names)]: Math.floor(rnd() * 10) };
    }
    return stores.slice(1).reduce((n, s) => n + s.cacheStats.hits, 0);
  } finally {
    for (const s of stores) await s.close();
  }
}

describe('sqlite store: tail cache under failures', () => {
  it('still answers exactly as the file does (rollbacks, throwing listeners, reopen; 8 seeds; channel counters held or reloaded)', async () => {
    let hits = 0;
    for (let seed = 1; seed <= 8; seed++)
      hits += await runWithFailures(seed, [
        { cacheMessages: 0 },
        { cacheMessages: 1, cacheBytes: 800 },
        { cacheMessages: 4, cacheBytes: 3000 },
        {},
        // Channel counters forgotten after every commit (read back from the file) or after one.
        { cacheChannels: 0 },
        { cacheChannels: 1, cacheMessages: 0 },
      ]);
    assert.ok(hits > 1000, `hits ${hits}`);
  });
});

describe('tail cache bounds', () => {
  const msg = (channel: string, seq: number, size: number): StoredMessage => ({
    seq,
    channel,
    event: 'm',
    data: 'x'.repeat(size),
    time: 0,
    json: JSON.stringify('x'.repeat(size)),
  });

  it('counts empty tails against the byte bound (reads of channels never published)', () => {
    const cache = new TailCache(32, 1024 * 1024);
    for (let i = 0; i < 100_000; i++) cache.fill(`never-published-${i}`, 0, [], true);
    const { channels, bytes } = cache.stats;
    assert.ok(bytes <= 1024 * 1024, `bytes ${bytes}`);
    assert.ok(channels < 5000, `channels ${channels}`);
  });

  it('keeps one channel of large messages to its share, without evicting the others', () => {
    const cache = new TailCache(32, 16 * 1024 * 1024);
    for (let i = 0; i < 100; i++) cache.fill(`small${i}`, 0, [msg(`small${i}`, i + 1, 50)], true);
    const big = Array.from({ length: 32 }, (_, i) => msg('big', 1000 + i, 300 * 1024));
    cache.fill('big', 999, big, true);
    for (let i = 0; i < 20; i++) cache.append(msg('big', 2000 + i, 300 * 1024));
    assert.equal(cache.stats.channels, 101, 'no small tail evicted');
    // The big tail holds what fits in 1/16 of the bound (1 MiB: one 300 KB message at 3x), and
    // answers only cursors at or after what it holds.
    assert.deepEqual(
      cache.read('big', 2018, 10)?.map((m) => m.seq),
      [2019],
    );
    assert.equal(cache.read('big', 2000, 10), undefined);
    assert.deepEqual(
      cache.read('small7', 0, 10)?.map((m) => m.seq),
      [8],
    );
  });

  it('refuses cacheMessages and cacheBytes that are not non-negative integers', () => {
    for (const bad of [1.5, -1, Number.POSITIVE_INFINITY, Number.NaN]) {
      assert.throws(() => new SqliteStore(tmpFile(), ctx, { cacheMessages: bad }), /cacheMessages must be/);
      assert.throws(() => new SqliteStore(tmpFile(), ctx, { cacheBytes: bad }), /cacheBytes must be/);
    }
  });
});
