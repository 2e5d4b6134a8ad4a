/**
 * The SQLite store's disk quota (`maxBytes`): large messages to many distinct channels, each within
 * its channel's retention, keep the database's pages in use under the quota; the oldest messages
 * go first whatever their channel, a resume from before them gets a `trimmed` gap, and the newest
 * are all still there, also after a reopen.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createStore } from '../../src/hub/stores/index.js';
import { SqliteStore } from '../../src/hub/stores/sqlite.js';
import type { StoreContext } from '../../src/hub/stores/store.js';

const tmp = mkdtempSync(join(tmpdir(), 'cometa-sqlite-quota-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ctx: StoreContext = { retentionFor: () => ({ maxMessages: 1000, maxAgeMs: 3_600_000 }) };
const QUOTA = 2 * 1024 * 1024;
const PAD = 'q'.repeat(20_000);
const N = 400; // 8 MB of messages, four times the quota

describe('sqlite store: disk quota', () => {
  it('keeps the pages in use under maxBytes, dropping the oldest over all channels', async () => {
    const path = join(tmp, 'quota.db');
    const store = createStore(`sqlite:${path}?maxBytes=${QUOTA}`, ctx, tmp) as SqliteStore;
    await store.open();
    let peak = 0;
    try {
      for (let i = 1; i <= N; i++) {
        // Group commits of 4, as concurrent publishes make them.
        const batch = [0, 1, 2, 3].map((k) => store.append(`c${(i - 1) * 4 + k}`, 'm', PAD, i));
        await Promise.all(batch);
        peak = Math.max(peak, store.usedBytes);
      }
      assert.ok(store.usedBytes <= QUOTA, `uses ${store.usedBytes} bytes`);
      assert.ok(peak <= QUOTA * 1.25, `peaked at ${peak} bytes`);
      const channels = Array.from({ length: 4 * N }, (_, i) => `c${i}`);
      const all = await store.read(channels, 0, 100_000);
      const kept = all.messages.map((m) => m.seq);
      assert.ok(kept.length >= 40, `${kept.length} kept`);
      // Oldest first: what is kept is the newest suffix.
      assert.deepEqual(
        kept,
        Array.from({ length: kept.length }, (_, i) => 4 * N - kept.length + 1 + i),
      );
      const first = await store.read(['c0'], 0, 10);
      assert.deepEqual([first.messages, first.gaps], [[], [{ channel: 'c0', reason: 'trimmed' }]]);
    } finally {
      await store.close();
    }
    const again = new SqliteStore(path, ctx, { maxBytes: QUOTA });
    await again.open();
    try {
      assert.equal(await again.head(), 4 * N);
      assert.ok(again.usedBytes <= QUOTA, `uses ${again.usedBytes} bytes after reopen`);
      const last = await again.read([`c${4 * N - 1}`], 0, 10);
      assert.equal(last.messages.length, 1);
      const first = await again.read(['c0'], 0, 10);
      assert.deepEqual(first.gaps, [{ channel: 'c0', reason: 'trimmed' }]);
    } finally {
      await again.close();
    }
  });

  it('has no quota with maxBytes=0, and refuses a malformed one', async () => {
    const path = join(tmp, 'none.db');
    const store = createStore(`sqlite:${path}?maxBytes=0`, ctx, tmp) as SqliteStore;
    await store.open();
    try {
      for (let i = 0; i < 200; i++) await store.append(`n${i}`, 'm', PAD, i);
      assert.equal((await store.read(['n0'], 0, 10)).messages.length, 1);
      assert.ok(store.usedBytes > 4_000_000);
    } finally {
      await store.close();
    }
    assert.throws(() => createStore(`sqlite:${path}?maxBytes=-1`, ctx, tmp), /maxBytes=N/);
  });
});
