/**
 * SQLite store: channel counters (newest seq, floor, retained count) live in memory and are written
 * back lazily (src/hub/stores/sqlite-channels.ts). These tests check the bound on what is held, that
 * the file's rows are exact after a write-back, that files without `meta.through` (written before
 * the counters moved to memory) are trusted as they are, and that a crash between write-backs is
 * recovered from the messages (kill -9 itself: store-sqlite-crash.test.ts).
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createStore } from '../../src/hub/stores/index.js';
import { ACTIVE_SINCE, SqliteStore } from '../../src/hub/stores/sqlite.js';
import type { StoreContext } from '../../src/hub/stores/store.js';

const tmp = mkdtempSync(join(tmpdir(), 'cometa-sqlite-channels-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const tmpFile = () => join(tmp, `db${++files}`, 'cometa.db');
const ctx: StoreContext = { retentionFor: () => ({ maxMessages: 3, maxAgeMs: 3_600_000 }) };

type Row = { channel: string; last_seq: number; floor: number; floor_reason: string; stored: number };

/** The file's channel rows and meta (the store must be closed: it holds an exclusive lock). */
function fileState(path: string): { rows: Row[]; through: string | undefined } {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT * FROM channels ORDER BY channel').all() as Row[];
    const meta = db.prepare(`SELECT value FROM meta WHERE key = 'through'`).get() as
      | { value: string }
      | undefined;
    return { rows, through: meta?.value };
  } finally {
    db.close();
  }
}

describe('sqlite store: channel counters', () => {
  it('holds at most cacheChannels once written back, and reads the others from the file', async () => {
    const path = tmpFile();
    const store = new SqliteStore(path, ctx, { cacheChannels: 5, cacheMessages: 0 });
    await store.open();
    store.listen(() => {});
    for (let i = 0; i < 200; i++) await store.append(`c${i % 50}`, 'm', i, 1);
    assert.ok(store.heldChannels >= 50, 'changed channels stay until written back');
    store.sweep(2); // writes back
    assert.ok(store.heldChannels <= 5, `held ${store.heldChannels}`);
    for (let c = 0; c < 50; c++) {
      // c0 got appends 0, 50, 100, 150 (seqs 1, 51, 101, 151): the first one trimmed.
      assert.deepEqual(await store.info(`c${c}`), { lastSeq: 151 + c, stored: 3 });
      const r = await store.read([`c${c}`], 0, 10);
      assert.deepEqual(
        r.messages.map((m) => m.seq),
        [51 + c, 101 + c, 151 + c],
      );
      assert.deepEqual(r.gaps, [{ channel: `c${c}`, reason: 'trimmed' }]);
    }
    assert.ok(store.heldChannels <= 5, `held ${store.heldChannels} after reading every channel`);
    await store.close();
    const { rows, through } = fileState(path);
    assert.equal(through, '200');
    assert.equal(rows.length, 50);
    for (const r of rows) {
      const c = Number(r.channel.slice(1));
      assert.deepEqual(r, {
        channel: r.channel,
        last_seq: 151 + c,
        floor: 1 + c,
        floor_reason: 'trimmed',
        stored: 3,
      });
    }
  });

  it('writes the counters with a drop, and keeps the seq of dropped newest messages', async () => {
    const path = tmpFile();
    const store = new SqliteStore(path, ctx);
    await store.open();
    store.listen(() => {});
    await store.append('a', 'm', 1, 1);
    await store.append('b', 'm', 2, 1);
    await store.drop('b'); // b held the newest seq
    await store.close();
    const { rows } = fileState(path);
    assert.deepEqual(
      rows.map((r) => [r.channel, r.last_seq, r.floor, r.floor_reason, r.stored]),
      [
        ['a', 1, 0, 'trimmed', 1],
        ['b', 2, 2, 'deleted', 0],
      ],
    );
    const again = new SqliteStore(path, ctx);
    await again.open();
    try {
      assert.equal(await again.head(), 2);
      assert.equal((await again.append('a', 'm', 3, 1)).seq, 3);
      assert.deepEqual((await again.read(['b'], 0, 10)).gaps, [{ channel: 'b', reason: 'deleted' }]);
    } finally {
      await again.close();
    }
  });

  it('trusts the rows of a file without meta.through (as written before counters were in memory)', async () => {
    const path = tmpFile();
    const store = new SqliteStore(path, ctx);
    await store.open();
    store.listen(() => {});
    for (let i = 0; i < 7; i++) await store.append(i % 2 ? 'a' : 'b', 'm', i, 1);
    await store.close();
    const raw = new Database(path);
    raw.prepare(`DELETE FROM meta WHERE key = 'through'`).run();
    raw.close();
    const again = new SqliteStore(path, ctx);
    await again.open();
    try {
      assert.deepEqual(await again.info('a'), { lastSeq: 6, stored: 3 });
      assert.deepEqual(await again.info('b'), { lastSeq: 7, stored: 3 });
      assert.equal((await again.append('a', 'm', 'x', 1)).seq, 8);
    } finally {
      await again.close();
    }
    assert.equal(fileState(path).through, '8');
  });

  it('recovers counters and floors from the messages when rows were not written back (crash)', async () => {
    const path = tmpFile();
    const store = new SqliteStore(path, ctx);
    await store.open();
    store.listen(() => {});
    for (let i = 0; i < 4; i++) await store.append('a', 'm', i, 1);
    store.sweep(2); // written back: a has seqs 2-4, floor 1
    for (let i = 0; i < 5; i++) await store.append(i < 3 ? 'a' : 'new', 'm', i, 1); // 5-7 on a, 8-9 on new
    const expected = {
      a: await store.info('a'),
      new: await store.info('new'),
      read: await store.read(['a', 'new'], 0, 100),
    };
    // What a crash leaves: the messages are in the file, the rows as of the last write-back.
    const copy = tmpFile();
    mkdirSync(dirname(copy), { recursive: true });
    // The file is held in EXCLUSIVE mode; a copy of the database and its WAL is what kill -9 leaves.
    for (const ext of ['', '-wal']) if (existsSync(path + ext)) copyFileSync(path + ext, copy + ext);
    await store.close();
    assert.deepEqual(
      fileState(copy).rows.map((r) => [r.channel, r.last_seq, r.floor, r.stored]),
      [['a', 4, 1, 3]],
      'the copy has the rows of the write-back only',
    );
    const recovered = new SqliteStore(copy, ctx);
    await recovered.open();
    try {
      assert.deepEqual(await recovered.info('a'), expected.a);
      assert.deepEqual(await recovered.info('new'), expected.new);
      const r = await recovered.read(['a', 'new'], 0, 100);
      assert.deepEqual(
        r.messages.map((m) => m.seq),
        expected.read.messages.map((m) => m.seq),
      );
      assert.deepEqual(r.gaps, expected.read.gaps);
      assert.equal(await recovered.head(), 9);
    } finally {
      await recovered.close();
    }
  });

  it('keeps what a failed sweep wrote back, even with room for one counter', async () => {
    // The sweep writes back first, then trims by age; a failure after that rolls the file back, so
    // the counters it wrote are changed again, and must not have been forgotten meanwhile.
    const path = tmpFile();
    let throwFor = '';
    const failing: StoreContext = {
      retentionFor(channel) {
        if (channel === throwFor) throw new Error('retentionFor failed');
        return channel === 'x' ? { maxMessages: 100, maxAgeMs: 1000 } : { maxMessages: 2, maxAgeMs: 1e12 };
      },
    };
    const opts = { cacheChannels: 1, cacheMessages: 0 };
    let store = new SqliteStore(path, failing, opts);
    await store.open();
    store.listen(() => {});
    await store.append('a', 'm', 'a1', 5000);
    await store.append('x', 'm', 'x-old', 0); // expired by age at now = 5000
    await store.append('y', 'm', 'y1', 5000);
    await store.close();
    store = new SqliteStore(path, failing, opts);
    await store.open();
    store.listen(() => {});
    for (const d of ['a2', 'a3', 'a4']) await store.append('a', 'm', d, 5000); // a: 5, 6 live, floor 4
    throwFor = 'y';
    assert.throws(() => store.sweep(5000), /retentionFor failed/);
    throwFor = '';
    assert.deepEqual(await store.info('a'), { lastSeq: 6, stored: 2 });
    const r = await store.read(['a'], 0, 10);
    assert.deepEqual(
      r.messages.map((m) => m.seq),
      [5, 6],
    );
    assert.deepEqual(r.gaps, [{ channel: 'a', reason: 'trimmed' }]);
    await store.drop('a');
    await store.close();
    store = new SqliteStore(path, failing, opts);
    await store.open();
    try {
      assert.equal(await store.head(), 6, 'no seq is reused after the drop of the newest messages');
      assert.equal((await store.append('z', 'm', 'z', 5000)).seq, 7);
      assert.deepEqual((await store.read(['a'], 2, 10)).gaps, [{ channel: 'a', reason: 'deleted' }]);
    } finally {
      await store.close();
    }
  });

  it('loads counters beyond cacheChannels without scanning the changed ones', async () => {
    const path = tmpFile();
    const n = 10_000;
    const opts = { cacheChannels: 100, cacheMessages: 0 };
    let store = new SqliteStore(path, ctx, opts);
    await store.open();
    store.listen(() => {});
    await Promise.all(Array.from({ length: n }, (_, i) => store.append(`c${i}`, 'm', 1, 1)));
    await store.close();
    store = new SqliteStore(path, ctx, opts);
    await store.open();
    store.listen(() => {});
    try {
      // One group commit loading every channel's row: each load once scanned every changed state
      // (88 s of CPU for 20,000 channels before commit 846daa3; about 0.1 s now).
      const t = process.cpuUsage();
      await Promise.all(Array.from({ length: n }, (_, i) => store.append(`c${i}`, 'm', 2, 2)));
      const { user, system } = process.cpuUsage(t);
      assert.ok(user + system < 5_000_000, `${((user + system) / 1000).toFixed(0)} ms of CPU`);
      store.sweep(3); // writes back
      assert.ok(store.heldChannels <= 100, `held ${store.heldChannels}`);
      assert.deepEqual(await store.info(`c${n - 1}`), { lastSeq: 2 * n, stored: 2 });
    } finally {
      await store.close();
    }
  });

  it('releases the file when open() fails part way', async () => {
    const path = tmpFile();
    let fail = false;
    const failing: StoreContext = {
      retentionFor: () => {
        if (fail) throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
        return { maxMessages: 3, maxAgeMs: 1e12 };
      },
    };
    const store = new SqliteStore(path, failing);
    await store.open();
    store.listen(() => {});
    await store.append('a', 'm', 1, 1);
    // What kill -9 leaves: rows not written back, so the next open recounts (and calls retentionFor).
    const copy = tmpFile();
    mkdirSync(dirname(copy), { recursive: true });
    for (const ext of ['', '-wal']) if (existsSync(path + ext)) copyFileSync(path + ext, copy + ext);
    await store.close();
    fail = true;
    const broken = new SqliteStore(copy, failing);
    await assert.rejects(broken.open(), /disk I\/O error/);
    assert.equal(broken.heldChannels, 0);
    fail = false;
    await broken.open(); // the same object, and the file was not left locked
    try {
      assert.deepEqual(await broken.info('a'), { lastSeq: 1, stored: 1 });
    } finally {
      await broken.close();
    }
  });

  it('takes cacheChannels from the store spec and refuses a bad value', () => {
    const store = createStore(`sqlite:${tmpFile()}?cacheChannels=10`, ctx, tmp);
    assert.ok(store instanceof SqliteStore);
    assert.throws(() => createStore(`sqlite:${tmpFile()}?cacheChannels=-1`, ctx, tmp), /cacheChannels=N/);
    assert.throws(() => new SqliteStore(tmpFile(), ctx, { cacheChannels: 1.5 }), /cacheChannels must be/);
  });
});

describe('sqlite store: wildcard resumes', () => {
  it('find the matching channels through the last_seq index, never by reading every channel', async () => {
    const path = tmpFile();
    mkdirSync(dirname(path), { recursive: true });
    const store = new SqliteStore(path, ctx);
    await store.open();
    for (let i = 0; i < 200; i++) await store.append(`quiet.${i}`, 'message', i, Date.now());
    const cursor = await store.head();
    await store.append('scores.nba', 'message', 1, Date.now());
    await store.append('scores.nhl', 'message', 2, Date.now());
    await store.append('quiet.7', 'message', 3, Date.now());
    const active = await store.activeChannels(['scores.*'], cursor, 10);
    assert.deepEqual(active, { channels: ['scores.nhl', 'scores.nba'], overflow: false });
    const bounded = await store.activeChannels(['**'], cursor, 2);
    assert.deepEqual(bounded, { channels: ['quiet.7', 'scores.nhl'], overflow: true });
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${ACTIVE_SINCE}`).all(cursor) as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
      assert.match(plan, /USING (COVERING )?INDEX channels_last_seq \(last_seq>\?\)/, plan);
      assert.doesNotMatch(plan, /SCAN channels/, plan);
    } finally {
      db.close();
    }
  });
});
