/**
 * "Resolved append = committed" for the SQLite store, against a real crash: a child process appends
 * as fast as it can and prints each seq once its append resolved; we SIGKILL it mid-stream, reopen
 * the file and check that every printed seq is there with its data, under the same epoch.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/hub/stores/sqlite.js';

const tmp = mkdtempSync(join(tmpdir(), 'cometa-crash-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const retention = { retentionFor: () => ({ maxMessages: 1_000_000, maxAgeMs: 1e12 }) };

const CHILD = `
const { SqliteStore } = await import(process.env.STORE_MODULE);
const store = new SqliteStore(process.env.DB,
  { retentionFor: () => ({ maxMessages: Number(process.env.KEEP), maxAgeMs: 1e12 }) }, { sync: process.env.SYNC });
await store.open();
process.stdout.write('epoch ' + store.epoch + '\\n');
for (let i = 0; ; i++) {
  const m = await store.append('ch' + (i % 3), 'm', { i, pad: 'x'.repeat(i % 200) }, Date.now());
  process.stdout.write(m.seq + ' ' + i + '\\n');
}
`;

function crashRun(db: string, sync: 'normal' | 'full', killAfter: number, keep = 1_000_000) {
  return new Promise<{ epoch: string; printed: Map<number, number> }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
      env: {
        ...process.env,
        DB: db,
        SYNC: sync,
        KEEP: String(keep),
        STORE_MODULE: pathToFileURL(join(import.meta.dirname, '../../src/hub/stores/sqlite.ts')).href,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let epoch = '';
    const printed = new Map<number, number>();
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        const [a, b] = line.split(' ');
        if (a === 'epoch') epoch = b ?? '';
        else printed.set(Number(a), Number(b));
      }
      if (printed.size >= killAfter && child.signalCode === null) child.kill('SIGKILL');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited by itself (${_code}) before the kill`));
      else resolve({ epoch, printed });
    });
  });
}

describe('sqlite store survives kill -9', () => {
  for (const sync of ['normal', 'full'] as const) {
    it(`keeps every append that resolved before SIGKILL (sync=${sync})`, async () => {
      const db = join(tmp, sync, 'cometa.db');
      const first = await crashRun(db, sync, 400);
      assert.ok(first.printed.size >= 400, `child printed ${first.printed.size} seqs`);
      // A second crash on the same file: the history and epoch carry on.
      const second = await crashRun(db, sync, 200);
      assert.equal(second.epoch, first.epoch);
      const store = new SqliteStore(db, retention, { sync });
      await store.open();
      try {
        assert.equal(store.epoch, first.epoch);
        const printed = [...first.printed, ...second.printed];
        const maxPrinted = Math.max(...printed.map(([seq]) => seq));
        const head = await store.head();
        assert.ok(head >= maxPrinted, `head ${head} < printed ${maxPrinted}`);
        // Second run continued the first run's seqs without reuse.
        assert.ok(Math.min(...second.printed.keys()) > Math.max(...first.printed.keys()));
        const { messages, more } = await store.read(['ch0', 'ch1', 'ch2'], 0, 1_000_000);
        assert.equal(more, false);
        const stored = new Map(messages.map((m) => [m.seq, m]));
        // Stored seqs are gapless 1..head: nothing half-written.
        assert.equal(messages.length, head);
        for (const [seq, i] of printed) {
          const m = stored.get(seq);
          assert.ok(m, `seq ${seq} was acknowledged but is missing after kill -9`);
          assert.deepEqual(m.data, { i, pad: 'x'.repeat(i % 200) });
          assert.equal(m.channel, `ch${i % 3}`);
        }
        assert.equal((await store.append('ch0', 'm', 'after', Date.now())).seq, head + 1);
      } finally {
        await store.close();
      }
    });
  }

  it('keeps the newest messages of trimmed channels and purges dead rows, running and after kill -9', async () => {
    // maxMessages 20: nearly every append trims, so the file holds dead rows (below a floor) that
    // the store deletes in bulk; a crash leaves some, which the next open deletes.
    const keep = 20;
    const db = join(tmp, 'trim', 'cometa.db');
    const run = await crashRun(db, 'normal', 6000, keep);
    assert.ok(run.printed.size >= 6000, `child printed ${run.printed.size} seqs`);
    const raw = new Database(db);
    const onDisk = (raw.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
    raw.close();
    // Purged while running: at most PURGE_AFTER (4096) dead rows (plus one group commit) remain.
    assert.ok(onDisk <= 3 * keep + 4096 + 64, `${onDisk} rows on disk after ${run.printed.size} appends`);

    const store = new SqliteStore(db, { retentionFor: () => ({ maxMessages: keep, maxAgeMs: 1e12 }) });
    await store.open();
    try {
      assert.equal(store.epoch, run.epoch);
      const head = await store.head();
      for (let c = 0; c < 3; c++) {
        const channel = `ch${c}`;
        const { messages, gaps } = await store.read([channel], 0, 1000);
        assert.equal(messages.length, keep);
        assert.deepEqual(gaps, [{ channel, reason: 'trimmed' }]);
        assert.deepEqual(await store.info(channel), { lastSeq: messages[keep - 1]?.seq, stored: keep });
        // Every acknowledged append of this channel above the floor is there, with its data.
        const floor = (messages[0]?.seq ?? 0) - 1;
        const byseq = new Map(messages.map((m) => [m.seq, m]));
        for (const [seq, i] of run.printed) {
          if (i % 3 !== c || seq <= floor) continue;
          assert.deepEqual(byseq.get(seq)?.data, { i, pad: 'x'.repeat(i % 200) }, `seq ${seq} (i ${i})`);
        }
        // And the floor is no lower than the keep-th newest acknowledged append of the channel.
        const acked = [...run.printed].filter(([, i]) => i % 3 === c).map(([seq]) => seq);
        assert.ok(floor >= (acked.sort((a, b) => b - a)[keep] ?? 0));
      }
      assert.equal((await store.append('ch0', 'm', 'after', Date.now())).seq, head + 1);
    } finally {
      await store.close();
    }
    const after = new Database(db, { readonly: true });
    const rows = (after.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
    after.close();
    assert.equal(rows, 3 * keep, 'dead rows left by the crash are deleted on open');
  });

  it('moves the journal a crash left on open, in one transaction (a failed move changes nothing)', async () => {
    const dir = join(tmp, 'journal');
    const path = join(dir, 'cometa.db');
    const copy = join(dir, 'copy.db');
    const ctx = { retentionFor: () => ({ maxMessages: 100, maxAgeMs: 1e12 }) };
    const store = new SqliteStore(path, ctx);
    await store.open();
    store.listen(() => {});
    for (let i = 1; i <= 5; i++) await store.append(`c${i % 2}`, 'm', { i }, i);
    // What kill -9 leaves: the appends are committed, in the journal (fewer than a move's worth).
    for (const ext of ['', '-wal']) if (existsSync(path + ext)) copyFileSync(path + ext, copy + ext);
    await store.close();
    const count = (table: string): number => {
      const raw = new Database(copy, { readonly: true });
      try {
        return (raw.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      } finally {
        raw.close();
      }
    };
    assert.equal(count('journal'), 5);
    // The move's delete fails (as on a full disk): open fails, and the copy must not be kept alone.
    let raw = new Database(copy);
    raw.exec(`CREATE TRIGGER no_delete BEFORE DELETE ON journal BEGIN SELECT RAISE(ABORT, 'injected'); END`);
    raw.close();
    await assert.rejects(new SqliteStore(copy, ctx).open(), /injected/);
    assert.deepEqual([count('journal'), count('messages')], [5, 0]);
    raw = new Database(copy);
    raw.exec('DROP TRIGGER no_delete');
    raw.close();
    const reopened = new SqliteStore(copy, ctx);
    await reopened.open();
    try {
      const r = await reopened.read(['c0', 'c1'], 0, 100);
      assert.deepEqual(
        r.messages.map((m) => [m.seq, m.data]),
        [1, 2, 3, 4, 5].map((i) => [i, { i }]),
      );
      assert.equal((await reopened.append('c0', 'm', 'next', 6)).seq, 6);
    } finally {
      await reopened.close();
    }
    assert.deepEqual([count('journal'), count('messages')], [0, 6]);
  });
});
