/**
 * A SQLite history that comes back shorter than what was acknowledged (the database copied or
 * restored without its WAL) never hands out an id twice: the store detects it on open against the
 * high-water mark kept beside the file (`PATH-hwm`) and starts a new epoch, so a resumer from an
 * acknowledged cursor gets a `gap` instead of silence, and new messages get new ids. A file that
 * lost nothing keeps its epoch.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from '../../src/hub/stores/sqlite.js';
import type { StoreContext } from '../../src/hub/stores/store.js';
import { startHub } from '../helpers/hub.js';

const tmp = mkdtempSync(join(tmpdir(), 'cometa-sqlite-rollback-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ctx: StoreContext = { retentionFor: () => ({ maxMessages: 1000, maxAgeMs: 3_600_000 }) };

/**
 * A store at `dir/cometa.db` with 5 messages checkpointed into the file (closed once) and 5 more
 * only in its WAL; returns it open, with the ids it acknowledged.
 */
async function walOnlyTail(dir: string): Promise<{ store: SqliteStore; path: string; ids: string[] }> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'cometa.db');
  let store = new SqliteStore(path, ctx);
  await store.open();
  const ids: string[] = [];
  for (let i = 1; i <= 5; i++) ids.push(`${store.epoch}-${(await store.append('ch', 'm', i, i)).seq}`);
  await store.close(); // checkpointed: the first 5 are in the file itself
  store = new SqliteStore(path, ctx);
  await store.open();
  for (let i = 6; i <= 10; i++) ids.push(`${store.epoch}-${(await store.append('ch', 'm', i, i)).seq}`);
  assert.ok(existsSync(`${path}-wal`), 'the last 5 are in the WAL');
  return { store, path, ids };
}

describe('sqlite store: a history rolled back behind what was acknowledged', () => {
  it('starts a new epoch when the file is copied without its WAL (high-water mark beside it)', async () => {
    const { store, path, ids } = await walOnlyTail(join(tmp, 'a'));
    const oldEpoch = store.epoch;
    // A copy of the directory that missed the WAL: the database and its high-water mark.
    const copy = join(tmp, 'a-copy');
    mkdirSync(copy);
    copyFileSync(path, join(copy, 'cometa.db'));
    copyFileSync(`${path}-hwm`, join(copy, 'cometa.db-hwm'));
    await store.close();

    const restored = new SqliteStore(join(copy, 'cometa.db'), ctx);
    await restored.open();
    try {
      assert.equal(await restored.head(), 5, 'the WAL-only messages are gone');
      assert.notEqual(restored.epoch, oldEpoch, 'a new epoch');
      assert.match(restored.lostHistory ?? '', /below the 10 acknowledged/);
      const m = await restored.append('ch', 'm', 'new', 11);
      assert.ok(!ids.includes(`${restored.epoch}-${m.seq}`), 'a new id, never one acknowledged before');
    } finally {
      await restored.close();
    }
    // Reopened, the restored file keeps its new epoch: it lost nothing since.
    const again = new SqliteStore(join(copy, 'cometa.db'), ctx);
    await again.open();
    try {
      assert.equal(again.lostHistory, undefined);
      assert.equal(await again.head(), 6);
    } finally {
      await again.close();
    }
  });

  it('starts a new epoch when the file comes back without its high-water mark', async () => {
    const { store, path } = await walOnlyTail(join(tmp, 'b'));
    const oldEpoch = store.epoch;
    const copy = join(tmp, 'b-copy');
    mkdirSync(copy);
    copyFileSync(path, join(copy, 'cometa.db'));
    await store.close();
    const restored = new SqliteStore(join(copy, 'cometa.db'), ctx);
    await restored.open();
    try {
      assert.notEqual(restored.epoch, oldEpoch);
      assert.match(restored.lostHistory ?? '', /missing/);
    } finally {
      await restored.close();
    }
  });

  it('keeps the epoch of a file that lost nothing (close and reopen, or a copy with its WAL)', async () => {
    const { store, path } = await walOnlyTail(join(tmp, 'c'));
    const epoch = store.epoch;
    const copy = join(tmp, 'c-copy');
    mkdirSync(copy);
    for (const suffix of ['', '-wal', '-hwm'])
      copyFileSync(`${path}${suffix}`, join(copy, `cometa.db${suffix}`));
    await store.close();
    for (const p of [path, join(copy, 'cometa.db')]) {
      const s = new SqliteStore(p, ctx);
      await s.open();
      try {
        assert.equal(s.epoch, epoch, p);
        assert.equal(s.lostHistory, undefined, p);
        assert.equal(await s.head(), 10, p);
      } finally {
        await s.close();
      }
    }
  });

  it('answers a resume from an acknowledged cursor past the restored head with a gap', async () => {
    const { store, path, ids } = await walOnlyTail(join(tmp, 'd'));
    const copy = join(tmp, 'd-copy');
    mkdirSync(copy);
    copyFileSync(path, join(copy, 'cometa.db'));
    copyFileSync(`${path}-hwm`, join(copy, 'cometa.db-hwm'));
    await store.close();
    const t = await startHub({ store: `sqlite:${join(copy, 'cometa.db')}` });
    try {
      const res = await fetch(`${t.url}/sub/ch?mode=poll&since=${ids[9]}`);
      const body = (await res.json()) as { messages: { event: string; data: { reason: string } }[] };
      assert.equal(body.messages[0]?.event, 'gap');
      assert.equal(body.messages[0]?.data.reason, 'epoch');
      const id = (await (
        await fetch(`${t.url}/pub/ch`, {
          method: 'POST',
          body: '"after"',
          headers: { 'content-type': 'application/json' },
        })
      ).json()) as { id: string };
      assert.ok(!ids.includes(id.id), `${id.id} was never acknowledged before`);
    } finally {
      await t.close();
    }
  });
});

describe('a cursor ahead of the history in its own epoch', () => {
  it('gets a gap (reason epoch), and the cursor of the head', async () => {
    const t = await startHub();
    try {
      await t.hub.publish('x', 1);
      const epoch = t.hub.core.epoch;
      const res = await fetch(`${t.url}/sub/x?mode=poll&since=${epoch}-999`);
      const body = (await res.json()) as {
        messages: { event: string; data: { reason: string } }[];
        cursor: string;
      };
      assert.deepEqual(
        body.messages.map((m) => [m.event, m.data.reason]),
        [['gap', 'epoch']],
      );
      assert.equal(body.cursor, `${epoch}-1`);
    } finally {
      await t.close();
    }
  });
});
