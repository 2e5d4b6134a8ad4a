/**
 * The Store contract (src/hub/stores/store.ts), one suite run against every store: memory, SQLite
 * (a temp file) and Redis (a real redis-server on a free port, both fan-out modes). Store-specific
 * behavior (persistence across reopen, several hubs on one Redis, Redis down/restarted) follows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createStore, defaultStoreSpec } from '../../src/hub/stores/index.js';
import { MemoryStore } from '../../src/hub/stores/memory.js';
import { RedisStore, type RedisStoreOptions } from '../../src/hub/stores/redis.js';
import { SqliteStore } from '../../src/hub/stores/sqlite.js';
import type { Store, StoreContext, StoredMessage, StoreEvent } from '../../src/hub/stores/store.js';
import { messageBytes, StoreUnavailableError } from '../../src/hub/stores/store.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

const HOUR = 3_600_000;
const ctx: StoreContext = {
  retentionFor(channel) {
    if (channel.startsWith('short')) return { maxMessages: 3, maxAgeMs: HOUR };
    if (channel.startsWith('aged')) return { maxMessages: 100, maxAgeMs: 1000 };
    return { maxMessages: 1000, maxAgeMs: HOUR };
  },
};

interface Recorder {
  events: StoreEvent[];
  messages(): StoredMessage[];
  waitFor(pred: (events: StoreEvent[]) => boolean, what: string, ms?: number): Promise<void>;
}

function record(store: Store): Recorder {
  const events: StoreEvent[] = [];
  store.listen((e) => events.push(e));
  return {
    events,
    messages: () => events.flatMap((e) => (e.type === 'message' ? [e.message] : [])),
    async waitFor(pred, what, ms = 5000) {
      const deadline = Date.now() + ms;
      while (!pred(events)) {
        if (Date.now() > deadline)
          assert.fail(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

const seqs = (ms: readonly StoredMessage[]) => ms.map((m) => m.seq);
const countMessages = (n: number) => (events: StoreEvent[]) =>
  events.filter((e) => e.type === 'message').length >= n;

/** Makes a fresh, unopened store with its own empty history. */
type Factory = (ctx: StoreContext) => Store;

/** The shared contract: every store must pass it unchanged. */
export function storeContract(name: string, make: Factory): void {
  describe(`store contract: ${name}`, () => {
    async function fresh(): Promise<{ store: Store; rec: Recorder }> {
      const store = make(ctx);
      await store.open();
      const rec = record(store);
      return { store, rec };
    }

    it('assigns a global seq across channels, starting after 0, and reports head', async () => {
      const { store, rec } = await fresh();
      try {
        assert.equal(await store.head(), 0);
        assert.match(store.epoch, /^[a-z0-9]{1,16}$/);
        const a1 = await store.append('a', 'msg', { n: 1 }, 1000);
        const b1 = await store.append('b', 'msg', { n: 2 }, 1001);
        const a2 = await store.append('a', 'other', 'three', 1002);
        assert.deepEqual(seqs([a1, b1, a2]), [1, 2, 3]);
        // The fields every store gives; `json` (the data as text) is optional, and right when present.
        const { seq, channel, event, data, time, json } = a1;
        assert.deepEqual(
          { seq, channel, event, data, time },
          { seq: 1, channel: 'a', event: 'msg', data: { n: 1 }, time: 1000 },
        );
        if (json !== undefined) assert.equal(json, '{"n":1}');
        assert.equal(await store.head(), 3);
        await rec.waitFor(countMessages(3), 'three messages');
        assert.deepEqual(rec.messages(), [a1, b1, a2]);
      } finally {
        await store.close();
      }
    });

    it('round-trips any JSON value and event name', async () => {
      const { store } = await fresh();
      try {
        const values: unknown[] = [null, 0, -1.5, true, 'x', '', [1, [2]], { a: { b: 'ü 🎉 \n "q"' } }];
        for (const v of values) await store.append('json', 'ev-😀', v, 5);
        const { messages } = await store.read(['json'], 0, 100);
        assert.deepEqual(
          messages.map((m) => m.data),
          values,
        );
        assert.ok(messages.every((m) => m.json === undefined || m.json === JSON.stringify(m.data)));
        assert.ok(messages.every((m) => m.event === 'ev-😀' && m.time === 5 && m.channel === 'json'));
      } finally {
        await store.close();
      }
    });

    it('reads after a seq, merging channels in seq order, with limit, more and head', async () => {
      const { store } = await fresh();
      try {
        for (let i = 1; i <= 9; i++) await store.append(i % 3 === 0 ? 'c' : i % 2 ? 'a' : 'b', 'm', i, i);
        // a: 1 5 7   b: 2 4 8   c: 3 6 9
        let r = await store.read(['a'], 1, 10);
        assert.deepEqual(seqs(r.messages), [5, 7]);
        assert.equal(r.more, false);
        assert.equal(r.head, 9);
        assert.deepEqual(r.gaps, []);
        r = await store.read(['a', 'b'], 0, 100);
        assert.deepEqual(seqs(r.messages), [1, 2, 4, 5, 7, 8]);
        r = await store.read(['b', 'a', 'c'], 2, 4);
        assert.deepEqual(seqs(r.messages), [3, 4, 5, 6]);
        assert.equal(r.more, true);
        r = await store.read(['b', 'a', 'c'], 6, 3);
        assert.deepEqual(seqs(r.messages), [7, 8, 9]);
        assert.equal(r.more, false);
        r = await store.read(['a'], 0, 2);
        assert.deepEqual(seqs(r.messages), [1, 5]);
        assert.equal(r.more, true);
        r = await store.read(['a', 'c'], 9, 10);
        assert.deepEqual(r.messages, []);
        assert.equal(r.more, false);
        r = await store.read(['nobody', 'a'], 6, 10);
        assert.deepEqual(seqs(r.messages), [7]);
        assert.deepEqual(r.gaps, []);
        r = await store.read([], 0, 10);
        assert.deepEqual(r.messages, []);
        assert.equal(r.head, 9);
      } finally {
        await store.close();
      }
    });

    it('returns the last n of each channel merged in seq order', async () => {
      const { store } = await fresh();
      try {
        for (let i = 1; i <= 6; i++) await store.append(i % 2 ? 'a' : 'b', 'm', i, i);
        // a: 1 3 5   b: 2 4 6
        let r = await store.last(['a', 'b'], 2);
        assert.deepEqual(seqs(r.messages), [3, 4, 5, 6]);
        assert.equal(r.head, 6);
        r = await store.last(['a'], 10);
        assert.deepEqual(seqs(r.messages), [1, 3, 5]);
        r = await store.last(['b', 'nobody'], 1);
        assert.deepEqual(seqs(r.messages), [6]);
        r = await store.last(['a'], 0);
        assert.deepEqual(r.messages, []);
      } finally {
        await store.close();
      }
    });

    it('cuts reads and last-N to one page in bytes and in messages over all channels', async () => {
      const { store } = await fresh();
      try {
        // a: 1 3 5 7 9 (4 KB each)   b: 2 4 6 8 10 (4 KB each)
        const big = 'x'.repeat(4000);
        for (let i = 1; i <= 10; i++) await store.append(i % 2 ? 'a' : 'b', 'm', big, i);
        const each = messageBytes((await store.read(['a'], 0, 1)).messages[0]!);
        assert.ok(each > 4000 && each < 4200, `one message counts ${each} bytes`);
        // Three messages' worth of bytes: a page of 3, in seq order over both channels, and more.
        let r = await store.read(['a', 'b'], 0, 1000, 3 * each);
        assert.deepEqual(seqs(r.messages), [1, 2, 3]);
        assert.equal(r.more, true);
        r = await store.read(['a', 'b'], 3, 1000, 3 * each);
        assert.deepEqual(seqs(r.messages), [4, 5, 6]);
        r = await store.read(['a', 'b'], 9, 1000, 3 * each);
        assert.deepEqual([seqs(r.messages), r.more], [[10], false]);
        // A message larger than the bound still goes, alone.
        r = await store.read(['b'], 0, 1000, 10);
        assert.deepEqual([seqs(r.messages), r.more], [[2], true]);
        // last=N over several channels is one page in all: maxBatch and bytes, oldest first.
        let l = await store.last(['a', 'b'], 4, 5);
        assert.deepEqual([seqs(l.messages), l.more], [[3, 4, 5, 6, 7], true]);
        l = await store.last(['a', 'b'], 4, 100, 2 * each);
        assert.deepEqual([seqs(l.messages), l.more], [[3, 4], true]);
        l = await store.last(['a', 'b'], 2, 4);
        assert.deepEqual([seqs(l.messages), l.more ?? false], [[7, 8, 9, 10], false]);
        assert.equal(l.head, 10);
      } finally {
        await store.close();
      }
    });

    it('keeps at most maxMessages per channel and reports a trimmed gap below the floor', async () => {
      const { store } = await fresh();
      try {
        await store.append('other', 'm', 0, 1); // seq 1
        for (let i = 2; i <= 7; i++) await store.append('short', 'm', i, i); // seqs 2..7
        assert.deepEqual(await store.info('short'), { lastSeq: 7, stored: 3 });
        let r = await store.read(['short'], 0, 10);
        assert.deepEqual(seqs(r.messages), [5, 6, 7]);
        assert.deepEqual(r.gaps, [{ channel: 'short', reason: 'trimmed' }]);
        r = await store.read(['short', 'other'], 3, 10);
        assert.deepEqual(seqs(r.messages), [5, 6, 7]);
        assert.deepEqual(r.gaps, [{ channel: 'short', reason: 'trimmed' }]);
        // The floor is the newest removed seq (4): a cursor at it lost nothing.
        r = await store.read(['short'], 4, 10);
        assert.deepEqual(seqs(r.messages), [5, 6, 7]);
        assert.deepEqual(r.gaps, []);
        assert.deepEqual(seqs((await store.last(['short'], 10)).messages), [5, 6, 7]);
        // Other channels are untouched.
        assert.deepEqual((await store.read(['other'], 0, 10)).gaps, []);
      } finally {
        await store.close();
      }
    });

    it('drops messages older than maxAgeMs on sweep, as a prefix, with a trimmed gap', async () => {
      const { store } = await fresh();
      try {
        const t = 1_700_000_000_000;
        await store.append('aged', 'm', 1, t); // 1
        await store.append('long', 'm', 2, t); // 2 (retention 1 h)
        await store.append('aged', 'm', 3, t + 100); // 3
        await store.append('aged', 'm', 4, t + 2000); // 4
        await store.sweep(t + 500); // cutoff t - 500: nothing is older
        assert.equal((await store.info('aged')).stored, 3);
        await store.sweep(t + 1150); // cutoff t + 150: 1 and 3 go
        assert.deepEqual(await store.info('aged'), { lastSeq: 4, stored: 1 });
        assert.deepEqual(await store.info('long'), { lastSeq: 2, stored: 1 });
        let r = await store.read(['aged', 'long'], 0, 10);
        assert.deepEqual(seqs(r.messages), [2, 4]);
        assert.deepEqual(r.gaps, [{ channel: 'aged', reason: 'trimmed' }]);
        r = await store.read(['aged'], 3, 10);
        assert.deepEqual(r.gaps, []);
        await store.sweep(t + 10_000); // everything in 'aged' is old now
        assert.deepEqual(await store.info('aged'), { lastSeq: 4, stored: 0 });
        r = await store.read(['aged'], 3, 10);
        assert.deepEqual(r.messages, []);
        assert.deepEqual(r.gaps, [{ channel: 'aged', reason: 'trimmed' }]);
      } finally {
        await store.close();
      }
    });

    it('drop deletes history, emits deleted and reports a deleted gap; the channel lives on', async () => {
      const { store, rec } = await fresh();
      try {
        await store.append('d', 'm', 1, 1);
        await store.append('d', 'm', 2, 2);
        await store.append('keep', 'm', 3, 3);
        await store.drop('d');
        await rec.waitFor((ev) => ev.some((e) => e.type === 'deleted'), 'deleted event');
        const deleted = rec.events.find((e) => e.type === 'deleted');
        assert.equal(deleted?.type === 'deleted' && deleted.channel, 'd');
        assert.ok(deleted?.type === 'deleted' && Math.abs(deleted.time - Date.now()) < 10_000);
        // The deleted event comes after the messages published before the drop.
        assert.deepEqual(
          rec.events.map((e) => e.type),
          ['message', 'message', 'message', 'deleted'],
        );
        assert.deepEqual(await store.info('d'), { lastSeq: 2, stored: 0 });
        let r = await store.read(['d', 'keep'], 0, 10);
        assert.deepEqual(seqs(r.messages), [3]);
        assert.deepEqual(r.gaps, [{ channel: 'd', reason: 'deleted' }]);
        assert.deepEqual((await store.last(['d'], 5)).messages, []);
        assert.equal(await store.head(), 3);
        const m = await store.append('d', 'm', 4, 4);
        assert.equal(m.seq, 4);
        r = await store.read(['d'], 2, 10);
        assert.deepEqual(seqs(r.messages), [4]);
        assert.deepEqual(r.gaps, []);
        // Dropping a channel that never had messages only emits the event.
        await store.drop('never');
        await rec.waitFor((ev) => ev.filter((e) => e.type === 'deleted').length === 2, 'second deleted');
        assert.deepEqual(await store.info('never'), { lastSeq: 0, stored: 0 });
        assert.deepEqual((await store.read(['never'], 0, 10)).gaps, []);
      } finally {
        await store.close();
      }
    });

    it('reports info for channels with and without messages', async () => {
      const { store } = await fresh();
      try {
        assert.deepEqual(await store.info('x'), { lastSeq: 0, stored: 0 });
        await store.append('x', 'm', 1, 1);
        await store.append('y', 'm', 1, 1);
        await store.append('x', 'm', 1, 1);
        assert.deepEqual(await store.info('x'), { lastSeq: 3, stored: 2 });
        assert.deepEqual(await store.info('y'), { lastSeq: 2, stored: 1 });
      } finally {
        await store.close();
      }
    });

    it('hands concurrent appends to the listener once each, in seq order', async () => {
      const { store, rec } = await fresh();
      try {
        const appended = await Promise.all(
          Array.from({ length: 200 }, (_, i) => store.append(`ch${i % 7}`, 'm', i, i)),
        );
        assert.deepEqual(
          seqs(appended).sort((x, y) => x - y),
          Array.from({ length: 200 }, (_, i) => i + 1),
        );
        await rec.waitFor(countMessages(200), '200 messages');
        const got = rec.messages();
        assert.deepEqual(
          seqs(got),
          Array.from({ length: 200 }, (_, i) => i + 1),
        );
        const bySeq = new Map(appended.map((m) => [m.seq, m]));
        for (const m of got) assert.deepEqual(m, bySeq.get(m.seq));
      } finally {
        await store.close();
      }
    });
  });
}

// ---- memory ----

storeContract('memory', (c) => new MemoryStore(c));

describe('memory store', () => {
  it('bounds the bytes it retains over all channels, dropping the oldest first with a trimmed gap', async () => {
    const store = new MemoryStore(ctx, { maxBytes: 100_000 });
    await store.open();
    try {
      const big = 'y'.repeat(10_000);
      // 40 channels of one 10 KB message each: 400 KB published, about 100 KB kept.
      for (let i = 0; i < 40; i++) await store.append(`c${i}`, 'm', big, i);
      assert.ok(store.bytes <= 100_000, `retains ${store.bytes} bytes`);
      assert.ok(store.bytes > 60_000, `retains ${store.bytes} bytes`);
      const first = await store.read(['c0'], 0, 10);
      assert.deepEqual(first.messages, []);
      assert.deepEqual(first.gaps, [{ channel: 'c0', reason: 'trimmed' }]);
      // (From the cursor just before it: from 0, a channel made after the store forgot others gets
      // a gap too, since it could be one of them.)
      const last = await store.read(['c39'], 39, 10);
      assert.deepEqual([seqs(last.messages), last.gaps], [[40], []]);
      // Oldest first: what is kept is the newest suffix of the seqs.
      const all = await store.read(
        Array.from({ length: 40 }, (_, i) => `c${i}`),
        0,
        1000,
      );
      const kept = seqs(all.messages);
      assert.deepEqual(
        kept,
        Array.from({ length: kept.length }, (_, i) => 41 - kept.length + i),
      );
      // Dropping and retention keep the count right: after a drop, the bytes go down.
      const before = store.bytes;
      await store.drop('c39');
      assert.ok(store.bytes < before);
    } finally {
      await store.close();
    }
  });

  it('bounds the records of ever new channels too, with a trimmed gap where it forgot one', async () => {
    const store = new MemoryStore(ctx, { maxBytes: 200_000 });
    await store.open();
    try {
      // 20,000 one-message channels: ~7 MB of channel records alone if none were forgotten.
      for (let i = 0; i < 20_000; i++) await store.append(`new-${i}`, 'm', i, i);
      assert.ok(store.bytes <= 200_000, `retains ${store.bytes} bytes`);
      assert.ok(store.channels < 1000, `keeps ${store.channels} channels`);
      // A forgotten channel: a resume from before its message gets a gap, not silence.
      const gone = await store.read(['new-0'], 0, 10);
      assert.deepEqual([gone.messages, gone.gaps], [[], [{ channel: 'new-0', reason: 'trimmed' }]]);
      // It may come back: the gap holds for resumes from before what was forgotten, not after.
      const m = await store.append('new-0', 'm', 'again', 1);
      assert.deepEqual((await store.read(['new-0'], 0, 10)).gaps, [{ channel: 'new-0', reason: 'trimmed' }]);
      assert.deepEqual(seqs((await store.read(['new-0'], m.seq - 1, 10)).messages), [m.seq]);
      assert.deepEqual((await store.read(['new-0'], m.seq - 1, 10)).gaps, []);
      // The newest channels are all there.
      const last = await store.read(['new-19999'], 19_998, 10);
      assert.deepEqual([seqs(last.messages), last.gaps], [[20_000], []]);
    } finally {
      await store.close();
    }
  });

  it('keeps its byte count exact under retention and many channels (memory?maxBytes=)', async () => {
    const store = createStore('memory?maxBytes=50000', ctx, '.');
    assert.ok(store instanceof MemoryStore);
    await store.open();
    try {
      for (let i = 0; i < 5000; i++) await store.append(i % 7 === 0 ? 'short' : `k${i % 50}`, 'm', i, i);
      const m = store as MemoryStore;
      assert.ok(m.bytes <= 50_000 && m.bytes > 40_000, `retains ${m.bytes} bytes`);
      assert.throws(() => createStore('memory?maxBytes=x', ctx, '.'), /maxBytes=N/);
    } finally {
      await store.close();
    }
  });

  it('starts a new epoch and an empty history on reopen', async () => {
    const a = new MemoryStore(ctx);
    await a.open();
    await a.append('x', 'm', 1, 1);
    await a.close();
    const b = new MemoryStore(ctx);
    await b.open();
    assert.notEqual(b.epoch, a.epoch);
    assert.equal(await b.head(), 0);
  });
});

// ---- sqlite ----

const tmp = mkdtempSync(join(tmpdir(), 'cometa-store-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const tmpFile = () => join(tmp, `db${++files}`, 'cometa.db');

storeContract('sqlite', (c) => new SqliteStore(tmpFile(), c));
storeContract('sqlite (sync=full)', (c) => new SqliteStore(tmpFile(), c, { sync: 'full' }));
// The tail cache off (every read queries the file) and tiny (tails of at most 2 messages and 750
// bytes: reads past the tail, evictions and refills all the time).
storeContract('sqlite (cache off)', (c) => new SqliteStore(tmpFile(), c, { cacheMessages: 0 }));
storeContract(
  'sqlite (cache=2)',
  (c) => new SqliteStore(tmpFile(), c, { cacheMessages: 2, cacheBytes: 12000 }),
);

describe('sqlite store', () => {
  it('keeps the epoch and history across close and reopen; seq continues, never reused', async () => {
    const path = tmpFile();
    const a = new SqliteStore(path, ctx);
    await a.open();
    await a.append('x', 'm', { v: 1 }, 1);
    await a.append('short', 'm', 2, 2);
    await a.append('y', 'm', 3, 3);
    await a.drop('y'); // the newest seq's channel is gone: its seq must still not come back
    const epoch = a.epoch;
    await a.close();

    const b = new SqliteStore(path, ctx);
    await b.open();
    try {
      assert.equal(b.epoch, epoch);
      assert.equal(await b.head(), 3);
      const r = await b.read(['x', 'short', 'y'], 0, 10);
      assert.deepEqual(seqs(r.messages), [1, 2]);
      assert.deepEqual(r.gaps, [{ channel: 'y', reason: 'deleted' }]);
      assert.deepEqual(r.messages[0]?.data, { v: 1 });
      assert.equal((await b.append('x', 'm', 4, 4)).seq, 4);
    } finally {
      await b.close();
    }
  });

  it('refuses a second store on the same file while the first is open', async () => {
    const path = tmpFile();
    const a = new SqliteStore(path, ctx);
    await a.open();
    try {
      const b = new SqliteStore(path, ctx);
      await assert.rejects(b.open(), /in use by another process/);
    } finally {
      await a.close();
    }
    const c = new SqliteStore(path, ctx);
    await c.open();
    await c.close();
  });

  it('rejects appends with StoreUnavailableError once closed', async () => {
    const s = new SqliteStore(tmpFile(), ctx);
    await s.open();
    await s.close();
    await assert.rejects(s.append('x', 'm', 1, 1), StoreUnavailableError);
  });
});

describe('createStore', () => {
  it('builds memory, sqlite (relative to cwd, directory created) and redis stores', async () => {
    assert.equal(createStore('memory', ctx, tmp).kind, 'memory');
    const spec = defaultStoreSpec(join(tmp, 'data'));
    assert.equal(spec, `sqlite:${join(tmp, 'data', 'cometa.db')}`);
    const s = createStore(spec, ctx, tmp);
    assert.ok(s instanceof SqliteStore);
    assert.equal(s.path, join(tmp, 'data', 'cometa.db'));
    await s.open();
    await s.close();
    const rel = createStore('sqlite:rel/dir/x.db?sync=full', ctx, tmp);
    assert.ok(rel instanceof SqliteStore);
    assert.equal(rel.path, join(process.cwd(), 'rel/dir/x.db'));
    assert.equal(createStore('', ctx, join(tmp, 'd2')).kind, 'sqlite');
    const r = createStore('redis://127.0.0.1:1/2?prefix=app:&fanout=pubsub&log=500', ctx, tmp);
    assert.ok(r instanceof RedisStore);
    assert.equal(r.fanout, 'pubsub');
    assert.throws(() => createStore('mongo://x', ctx, tmp), /unknown store/);
    assert.throws(() => createStore('redis://x:1/0?bogus=1', ctx, tmp), /unknown Redis option/);
    assert.throws(() => createStore('sqlite:x.db?sync=maybe', ctx, tmp), /unknown sqlite option/);
    assert.throws(() => createStore('sqlite:x.db?cache=-1', ctx, tmp), /unknown sqlite option cache=-1/);
    const tuned = createStore(`sqlite:${join(tmp, 't', 't.db')}?cache=0&cacheBytes=1024`, ctx, tmp);
    assert.ok(tuned instanceof SqliteStore);
    await tuned.open();
    await tuned.append('c', 'm', 1, 1);
    await tuned.read(['c'], 0, 10);
    assert.deepEqual(tuned.cacheStats, { hits: 0, misses: 0, channels: 0, bytes: 0 }); // cache=0: off
    await tuned.close();
  });

  it('rejects open() of an unreachable Redis with StoreUnavailableError', async () => {
    const r = createStore('redis://127.0.0.1:1/0', ctx, tmp);
    await assert.rejects(r.open(), StoreUnavailableError);
  });
});

// ---- redis ----

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

let prefixes = 0;
const redisStore = (c: StoreContext, options: RedisStoreOptions = {}) =>
  new RedisStore(redis.url, c, { prefix: `t${++prefixes}:`, ...options });

storeContract('redis (fanout=stream)', (c) => redisStore(c, { fanout: 'stream' }));
storeContract('redis (fanout=pubsub)', (c) => redisStore(c, { fanout: 'pubsub' }));

for (const fanout of ['stream', 'pubsub'] as const) {
  describe(`redis store (fanout=${fanout})`, () => {
    it('keeps history and epoch for a reopened store (same Redis)', async () => {
      const prefix = `reopen-${fanout}:`;
      const a = new RedisStore(redis.url, ctx, { prefix, fanout });
      await a.open();
      await a.append('x', 'm', 1, 1);
      await a.close();
      const b = new RedisStore(redis.url, ctx, { prefix, fanout });
      await b.open();
      try {
        assert.equal(b.epoch, a.epoch);
        assert.equal(await b.head(), 1);
        assert.equal((await b.append('x', 'm', 2, 2)).seq, 2);
      } finally {
        await b.close();
      }
    });

    it('sends no more than a page of large messages from Redis (read and last)', async () => {
      const prefix = `page-${fanout}:`;
      const store = new RedisStore(redis.url, ctx, { prefix, fanout });
      await store.open();
      const probe = new Redis(redis.url);
      const sent = async () => Number(/total_net_output_bytes:(\d+)/.exec(await probe.info('stats'))![1]);
      try {
        const pad = 'p'.repeat(100_000);
        for (let i = 0; i < 40; i++) await store.append('big', 'm', pad, i);
        let before = await sent();
        const r = await store.read(['big'], 0, 1000, 250_000);
        assert.deepEqual([seqs(r.messages), r.more], [[1, 2], true]);
        assert.ok((await sent()) - before < 600_000, 'a 4 MB history sent about one page');
        before = await sent();
        const l = await store.last(['big'], 30, 1000, 250_000);
        assert.deepEqual([seqs(l.messages), l.more], [[11, 12], true]);
        assert.ok((await sent()) - before < 600_000, 'last=30 sent about one page');
      } finally {
        probe.disconnect();
        await store.close();
      }
    });

    it('several stores on one Redis share one seq and all receive every message in the same order', async () => {
      const prefix = `multi-${fanout}:`;
      const stores = [0, 1, 2].map(() => new RedisStore(redis.url, ctx, { prefix, fanout }));
      for (const s of stores) await s.open();
      try {
        assert.equal(new Set(stores.map((s) => s.epoch)).size, 1);
        const recs = stores.map(record);
        const appended = await Promise.all(
          Array.from({ length: 300 }, (_, i) => stores[i % 3]!.append(`c${i % 5}`, 'm', i, i)),
        );
        const expected = Array.from({ length: 300 }, (_, i) => i + 1);
        assert.deepEqual(
          seqs(appended).sort((x, y) => x - y),
          expected,
        );
        for (const rec of recs) {
          await rec.waitFor(countMessages(300), '300 messages on every store');
          assert.deepEqual(seqs(rec.messages()), expected);
        }
        await stores[1]!.drop('c1');
        for (const rec of recs)
          await rec.waitFor((ev) => ev.at(-1)?.type === 'deleted', 'deleted on every store');
      } finally {
        for (const s of stores) await s.close();
      }
    });

    it('catches up, in order, on messages published while its connections were cut', async () => {
      const prefix = `blip-${fanout}:`;
      const a = new RedisStore(redis.url, ctx, { prefix, fanout });
      const b = new RedisStore(redis.url, ctx, { prefix, fanout });
      await a.open();
      await b.open();
      try {
        const rec = record(b);
        await a.append('x', 'm', 0, 0);
        await rec.waitFor(countMessages(1), 'first message');
        // Cut every client connection (ours included); publish while b reconnects.
        await redis.command('CLIENT KILL TYPE normal');
        await redis.command('CLIENT KILL TYPE pubsub');
        let published = 1;
        const deadline = Date.now() + 3000;
        while (published < 40 && Date.now() < deadline) {
          try {
            await a.append('x', 'm', published, published);
            published++;
          } catch (err) {
            assert.ok(err instanceof StoreUnavailableError, String(err));
            await new Promise((r) => setTimeout(r, 10));
          }
        }
        assert.equal(published, 40);
        await rec.waitFor(countMessages(40), '40 messages after the blip');
        assert.deepEqual(
          seqs(rec.messages()),
          Array.from({ length: 40 }, (_, i) => i + 1),
        );
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('lets one hub at a time do the age sweep (a lease the holder renews)', async () => {
      const prefix = `lease-${fanout}:`;
      const a = new RedisStore(redis.url, ctx, { prefix, fanout });
      const b = new RedisStore(redis.url, ctx, { prefix, fanout });
      await a.open();
      await b.open();
      try {
        const t = 1_700_000_000_000;
        await a.append('aged', 'm', 1, t);
        await a.sweep(t + 5000); // a takes the lease and sweeps
        assert.equal((await a.info('aged')).stored, 0);
        await a.append('aged', 'm', 2, t);
        await b.sweep(t + 5000); // a holds the lease: b does nothing
        assert.equal((await b.info('aged')).stored, 1);
        await a.sweep(t + 5000);
        assert.equal((await b.info('aged')).stored, 0);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('fails a read that meets another epoch, announces the new epoch, then reads again', async () => {
      const prefix = `moved-${fanout}:`;
      const admin = new Redis(redis.url);
      admin.on('error', () => {});
      const a = new RedisStore(redis.url, ctx, { prefix, fanout });
      await a.open();
      try {
        const rec = record(a);
        await a.append('x', 'm', 1, 1);
        // Another hub found the history reset and started epoch "zzz" (what ROTATE does).
        await admin.set(`${prefix}epoch`, 'zzz');
        await assert.rejects(a.read(['x'], 0, 10), StoreUnavailableError);
        assert.equal(a.epoch, 'zzz');
        await rec.waitFor((ev) => ev.some((e) => e.type === 'epoch' && e.epoch === 'zzz'), 'epoch event');
        assert.deepEqual(seqs((await a.read(['x'], 0, 10)).messages), [1]);
        // Appends go on under the adopted epoch.
        assert.equal((await a.append('x', 'm', 2, 2)).seq, 2);
      } finally {
        await a.close();
        admin.disconnect();
      }
    });

    it('recovers from channel streams when a hub missed more than the global log keeps', async () => {
      const prefix = `longaway-${fanout}:`;
      const admin = new Redis(redis.url);
      admin.on('error', () => {});
      const a = new RedisStore(redis.url, ctx, { prefix, fanout, logMax: 10 });
      await a.open();
      const b = new RedisStore(redis.url, ctx, { prefix, fanout, logMax: 10 });
      try {
        const before = clientIds(String(await admin.client('LIST')));
        await b.open();
        const rec = record(b);
        await a.append('k0', 'm', 0, 0);
        await rec.waitFor(countMessages(1), 'first message');
        // Cut b off: kill its two connections and keep them from coming back (maxclients) while
        // 300 messages go by, far more than the 10-entry global log keeps.
        const bIds = clientIds(String(await admin.client('LIST'))).filter((id) => !before.includes(id));
        assert.equal(bIds.length, 2);
        const connected = String(await admin.client('LIST'))
          .trim()
          .split('\n').length;
        await admin.config('SET', 'maxclients', String(connected - 2));
        for (const id of bIds) await admin.client('KILL', 'ID', id);
        try {
          for (let i = 1; i < 300; i++) await a.append(`k${i % 4}`, 'm', i, i);
          assert.equal(rec.messages().length, 1);
        } finally {
          await admin.config('SET', 'maxclients', '10000');
        }
        await rec.waitFor(countMessages(300), '300 messages', 10_000);
        assert.deepEqual(
          seqs(rec.messages()),
          Array.from({ length: 300 }, (_, i) => i + 1),
        );
      } finally {
        await a.close();
        await b.close();
        admin.disconnect();
      }
    });
  });
}

function clientIds(list: string): string[] {
  return list
    .split('\n')
    .filter((line) => / name=cometa-/.test(line) || / cmd=client/.test(line))
    .map((line) => /^id=(\d+)/.exec(line)?.[1] ?? '')
    .filter(Boolean);
}

describe('redis store: Redis down and restarted', () => {
  let own: RedisServer;
  before(async () => {
    own = await startRedis();
  });
  after(async () => {
    await own?.stop();
  });

  for (const fanout of ['stream', 'pubsub'] as const) {
    it(`fails fast while Redis is down, reports status, and a restart without data as a new epoch (${fanout})`, async () => {
      const a = new RedisStore(own.url, ctx, { fanout, prefix: `down-${fanout}:` });
      const b = new RedisStore(own.url, ctx, { fanout, prefix: `down-${fanout}:` });
      await a.open();
      await b.open();
      try {
        const recA = record(a);
        const recB = record(b);
        await a.append('x', 'm', 1, 1);
        await a.append('x', 'm', 2, 2);
        await recB.waitFor(countMessages(2), 'two messages');
        const oldEpoch = a.epoch;

        await own.stop();
        const t0 = Date.now();
        await assert.rejects(a.append('x', 'm', 3, 3), StoreUnavailableError);
        await assert.rejects(a.read(['x'], 0, 10), StoreUnavailableError);
        assert.ok(Date.now() - t0 < 1000, `append failed in ${Date.now() - t0} ms`);
        for (const rec of [recA, recB])
          await rec.waitFor((ev) => ev.some((e) => e.type === 'status' && !e.up), 'status down');

        await own.start(); // empty: no persistence
        for (const rec of [recA, recB]) {
          await rec.waitFor((ev) => ev.some((e) => e.type === 'epoch'), 'epoch event', 10_000);
          await rec.waitFor((ev) => ev.some((e) => e.type === 'status' && e.up), 'status up', 10_000);
        }
        assert.notEqual(a.epoch, oldEpoch);
        assert.equal(a.epoch, b.epoch);
        const epochEvent = recB.events.find((e) => e.type === 'epoch');
        assert.deepEqual(epochEvent, { type: 'epoch', epoch: a.epoch });

        // The new epoch starts from seq 1 and both hubs receive it.
        const m = await a.append('x', 'm', 'new', 10);
        assert.equal(m.seq, 1);
        await recB.waitFor((ev) => ev.at(-1)?.type === 'message', 'message in the new epoch');
        const last = recB.events.at(-1);
        assert.equal(last?.type === 'message' && last.message.data, 'new');
        // Order on the listener: old messages, down, epoch, (up), new messages.
        const types = recB.events.map((e) => (e.type === 'status' ? `status:${e.up}` : e.type));
        assert.deepEqual(types.slice(0, 3), ['message', 'message', 'status:false']);
        assert.ok(types.indexOf('epoch') < types.lastIndexOf('message'));
        assert.ok(types.includes('status:true'));
        const r = await b.read(['x'], 0, 10);
        assert.deepEqual(seqs(r.messages), [1]);
      } finally {
        await a.close();
        await b.close();
      }
    });
  }
});
