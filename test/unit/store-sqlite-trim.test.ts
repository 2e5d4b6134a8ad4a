/**
 * SQLite store: trimming raises a channel's floor at once and leaves the trimmed rows on disk, dead,
 * until a purge deletes many of them together (src/hub/stores/sqlite.ts, PURGE_AFTER). These tests
 * check that dead rows are never visible (read, last, info, age sweep) and that they do get
 * deleted: on close and by an age sweep. That they are deleted while the store runs (a bounded
 * number on disk) and after kill -9 (on open) is checked in store-sqlite-crash.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/hub/stores/sqlite.js';
import type { StoreContext, StoredMessage } from '../../src/hub/stores/store.js';

const tmp = mkdtempSync(join(tmpdir(), 'cometa-sqlite-trim-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let files = 0;
const tmpFile = () => join(tmp, `db${++files}`, 'cometa.db');

const seqs = (ms: readonly StoredMessage[]) => ms.map((m) => m.seq);

/** Rows physically in the file, per channel (the store must be closed: it holds an exclusive lock). */
function rowsOnDisk(path: string): Record<string, number> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT channel, count(*) AS n FROM messages GROUP BY channel').all() as {
      channel: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.channel, r.n]));
  } finally {
    db.close();
  }
}

describe('sqlite store: trimmed rows', () => {
  it('are invisible to read, last and info, and gone from the file after close', async () => {
    const path = tmpFile();
    const ctx: StoreContext = { retentionFor: () => ({ maxMessages: 3, maxAgeMs: 3_600_000 }) };
    const store = new SqliteStore(path, ctx);
    await store.open();
    store.listen(() => {});
    // A few trims: dead rows are on disk now, and must not show.
    for (let i = 1; i <= 10; i++) await store.append(i % 2 ? 'a' : 'b', 'm', i, i);
    let r = await store.read(['a', 'b'], 0, 100);
    assert.deepEqual(seqs(r.messages), [5, 6, 7, 8, 9, 10]);
    assert.deepEqual(r.gaps, [
      { channel: 'a', reason: 'trimmed' },
      { channel: 'b', reason: 'trimmed' },
    ]);
    r = await store.read(['a'], 2, 100); // a cursor below the floor, inside the dead rows
    assert.deepEqual(seqs(r.messages), [5, 7, 9]);
    assert.deepEqual(r.gaps, [{ channel: 'a', reason: 'trimmed' }]);
    r = await store.read(['a'], 5, 100); // at the floor: nothing lost
    assert.deepEqual(seqs(r.messages), [7, 9]);
    assert.deepEqual(r.gaps, []);
    assert.deepEqual(seqs((await store.last(['a', 'b'], 10)).messages), [5, 6, 7, 8, 9, 10]);
    assert.deepEqual(seqs((await store.last(['b'], 2)).messages), [8, 10]);
    assert.deepEqual(await store.info('a'), { lastSeq: 9, stored: 3 });

    // Well past the purge threshold, appended concurrently (group commits of many appends).
    const n = 10_000;
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, j) => store.append((i + j) % 2 ? 'a' : 'b', 'm', i + j, 1)),
      );
    }
    const head = await store.head();
    assert.equal(head, 10 + n);
    r = await store.read(['a', 'b'], 0, 100);
    assert.deepEqual(seqs(r.messages), [head - 5, head - 4, head - 3, head - 2, head - 1, head]);
    assert.deepEqual(await store.info('a'), { lastSeq: head, stored: 3 }); // the last append went to a
    await store.close(); // purges what is left
    assert.deepEqual(rowsOnDisk(path), { a: 3, b: 3 });
  });

  it('keeps counts right when an age sweep meets dead rows, and the sweep purges them', async () => {
    const path = tmpFile();
    const ctx: StoreContext = { retentionFor: () => ({ maxMessages: 4, maxAgeMs: 100 }) };
    const store = new SqliteStore(path, ctx);
    await store.open();
    store.listen(() => {});
    for (let i = 0; i < 6; i++) await store.append('c', 'm', i, 0); // seqs 1-6; 1 and 2 dead
    await store.append('c', 'm', 'fresh', 1000); // 7; 3 dead
    await store.append('c', 'm', 'fresh', 1000); // 8; 4 dead; live: 5 6 (old), 7 8 (fresh)
    assert.deepEqual(await store.info('c'), { lastSeq: 8, stored: 4 });
    store.sweep(1050); // cutoff 950: 5 and 6 expire
    assert.deepEqual(await store.info('c'), { lastSeq: 8, stored: 2 });
    const r = await store.read(['c'], 0, 100);
    assert.deepEqual(seqs(r.messages), [7, 8]);
    assert.deepEqual(r.gaps, [{ channel: 'c', reason: 'trimmed' }]);
    assert.deepEqual(seqs((await store.read(['c'], 6, 100)).messages), [7, 8]);
    assert.deepEqual((await store.read(['c'], 6, 100)).gaps, []);
    store.sweep(1050); // nothing more to do
    assert.deepEqual(await store.info('c'), { lastSeq: 8, stored: 2 });
    await store.close();
    assert.deepEqual(rowsOnDisk(path), { c: 2 });
  });

  it('drops a channel with dead rows and keeps maxMessages 0 channels empty', async () => {
    const path = tmpFile();
    const ctx: StoreContext = {
      retentionFor: (channel) => ({ maxMessages: channel === 'none' ? 0 : 2, maxAgeMs: 3_600_000 }),
    };
    const store = new SqliteStore(path, ctx);
    await store.open();
    store.listen(() => {});
    for (let i = 0; i < 5; i++) await store.append('d', 'm', i, 1); // 1-3 dead
    await store.drop('d');
    assert.deepEqual(await store.info('d'), { lastSeq: 5, stored: 0 });
    assert.deepEqual((await store.read(['d'], 0, 10)).gaps, [{ channel: 'd', reason: 'deleted' }]);
    assert.equal((await store.append('d', 'm', 'again', 1)).seq, 6);
    assert.equal((await store.append('none', 'm', 'x', 1)).seq, 7);
    assert.deepEqual(await store.info('none'), { lastSeq: 7, stored: 0 });
    assert.deepEqual((await store.read(['none'], 0, 10)).messages, []);
    assert.deepEqual((await store.last(['none'], 10)).messages, []);
    await store.close();
    assert.deepEqual(rowsOnDisk(path), { d: 1 });
  });
});
