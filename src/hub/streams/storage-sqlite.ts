import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { chargeOf, grows, recordOverhead, type StoreBounds, storeFull } from './bounds.js';
import type { StreamMeta, StreamRecord, StreamStorage, StreamWrite } from './storage.js';
import { expiryOf } from './storage.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ds_streams (
  path TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  expires REAL,
  meta TEXT NOT NULL,
  charge INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ds_streams_expires ON ds_streams (expires) WHERE expires IS NOT NULL;
CREATE TABLE IF NOT EXISTS ds_records (
  path TEXT NOT NULL,
  idx INTEGER NOT NULL,
  offset TEXT NOT NULL,
  last INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (path, idx)
) WITHOUT ROWID;
`;

/** A version did not match inside a commit: the transaction rolls back and commit() says false. */
class Conflict extends Error {}

interface StateRow {
  version: number;
  charge: number;
}

interface RecordRow {
  offset: string;
  last: number;
  data: Buffer;
}

/**
 * Durable Streams in SQLite (WAL): a commit is one transaction, so an acknowledged append, its
 * producer state and its Stream-Seq are on disk together and survive `kill -9`. The file is the
 * hub's SQLite file with `.streams` before its extension (`cometa.db` → `cometa.streams.db`):
 * the channel store holds its own file exclusively. `sync=full` also fsyncs every commit.
 */
export class SqliteStreamStorage implements StreamStorage {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  readonly #sync: 'normal' | 'full';
  #db: Database.Database | undefined;
  #commit: ((writes: StreamWrite[], bounds: StoreBounds) => { bytes: number; streams: number }) | undefined;
  readonly #listeners: Array<(path: string) => void> = [];
  /**
   * Streams and charged bytes (bounds.ts) in the file, counted at open and kept by each commit: one
   * hub process per file, so no other writer changes them.
   */
  #streams = 0;
  #bytes = 0;
  #st:
    | {
        load: Database.Statement;
        state: Database.Statement;
        upsert: Database.Statement;
        remove: Database.Statement;
        removeRecords: Database.Statement;
        insertRecord: Database.Statement;
        records: Database.Statement;
        expiring: Database.Statement;
      }
    | undefined;

  constructor(path: string, sync: 'normal' | 'full' = 'normal') {
    this.path = path;
    this.#sync = sync;
  }

  async open(): Promise<void> {
    if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
    const db = new Database(this.path, { timeout: 2000 });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${this.#sync === 'full' ? 'FULL' : 'NORMAL'}`);
      db.exec(SCHEMA);
      chargeOlderRows(db);
    } catch (err) {
      db.close();
      throw err;
    }
    const totals = db.prepare('SELECT COUNT(*) AS n, TOTAL(charge) AS bytes FROM ds_streams').get() as {
      n: number;
      bytes: number;
    };
    this.#streams = totals.n;
    this.#bytes = totals.bytes;
    const st = {
      load: db.prepare('SELECT meta FROM ds_streams WHERE path = ?').pluck(),
      state: db.prepare('SELECT version, charge FROM ds_streams WHERE path = ?'),
      upsert: db.prepare(
        'INSERT INTO ds_streams (path, version, expires, meta, charge) VALUES (?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET version = excluded.version, expires = excluded.expires, meta = excluded.meta, charge = excluded.charge',
      ),
      remove: db.prepare('DELETE FROM ds_streams WHERE path = ?'),
      removeRecords: db.prepare('DELETE FROM ds_records WHERE path = ?'),
      insertRecord: db.prepare(
        'INSERT INTO ds_records (path, idx, offset, last, data) VALUES (?, ?, ?, ?, ?)',
      ),
      records: db.prepare(
        'SELECT offset, last, data FROM ds_records WHERE path = ? AND idx >= ? ORDER BY idx LIMIT ?',
      ),
      expiring: db.prepare('SELECT path FROM ds_streams WHERE expires <= ? LIMIT ?').pluck(),
    };
    this.#st = st;
    this.#commit = db.transaction((writes: StreamWrite[], bounds: StoreBounds) => {
      let bytes = this.#bytes;
      let streams = this.#streams;
      const texts: string[] = [];
      const charges: number[] = [];
      for (const w of writes) {
        const row = st.state.get(w.path) as StateRow | undefined;
        if ((row?.version ?? 0) !== w.expect) throw new Conflict();
        const text = w.meta === null ? '' : JSON.stringify(w.meta);
        const charge = w.meta === null ? 0 : chargeOf(w.meta, text, recordOverhead(this.kind, w.meta));
        texts.push(text);
        charges.push(charge);
        bytes += charge - (row?.charge ?? 0);
        if (w.meta === null) streams--;
        else if (w.expect === 0) streams++;
      }
      if (grows(writes)) {
        if (streams > this.#streams && streams > bounds.maxStreams) throw storeFull('streams', bounds);
        if (bytes > this.#bytes && bytes > bounds.maxBytes) throw storeFull('bytes', bounds);
      }
      for (let i = 0; i < writes.length; i++) {
        const w = writes[i]!;
        if (w.meta === null || w.expect === 0) st.removeRecords.run(w.path);
        if (w.meta === null) {
          st.remove.run(w.path);
          continue;
        }
        const expires = expiryOf(w.meta);
        st.upsert.run(
          w.path,
          w.meta.version,
          Number.isFinite(expires) ? expires : null,
          texts[i]!,
          charges[i]!,
        );
        if (w.append !== undefined && w.append.length > 0) {
          let idx = w.meta.count - w.append.length;
          for (const r of w.append) st.insertRecord.run(w.path, idx++, r.offset, r.end ? 1 : 0, r.data);
        }
      }
      return { bytes, streams };
    });
    this.#db = db;
  }

  async close(): Promise<void> {
    this.#db?.close();
    this.#db = undefined;
  }

  async load(path: string): Promise<StreamMeta | undefined> {
    const text = this.#statements().load.get(path) as string | undefined;
    return text === undefined ? undefined : (JSON.parse(text) as StreamMeta);
  }

  async commit(writes: StreamWrite[], bounds: StoreBounds): Promise<boolean> {
    this.#statements();
    try {
      // The counts move only once the transaction committed (one that threw rolled back).
      const totals = this.#commit!(writes, bounds);
      this.#bytes = totals.bytes;
      this.#streams = totals.streams;
    } catch (err) {
      if (err instanceof Conflict) return false;
      throw err;
    }
    for (const w of writes) if (w.notify !== false) for (const l of this.#listeners) l(w.path);
    return true;
  }

  async records(meta: StreamMeta, from: number, limit: number, maxBytes: number): Promise<StreamRecord[]> {
    const rows = this.#statements().records.all(meta.path, from, limit) as RecordRow[];
    const out: StreamRecord[] = [];
    let bytes = 0;
    for (const row of rows) {
      if (out.length > 0 && bytes + row.data.length > maxBytes) break;
      bytes += row.data.length;
      out.push({ offset: row.offset, data: row.data, end: row.last === 1 });
    }
    return out;
  }

  onChange(listener: (path: string) => void): void {
    this.#listeners.push(listener);
  }

  async expiring(now: number, limit: number): Promise<string[]> {
    return this.#statements().expiring.all(now, limit) as string[];
  }

  #statements() {
    if (this.#st === undefined || this.#db === undefined) throw new Error('the stream store is not open');
    return this.#st;
  }
}

/**
 * Files written before streams were charged have no `charge` column, or rows charged 0: adds the
 * column and charges those rows from their metadata (bounds.ts), so the totals count them.
 */
function chargeOlderRows(db: Database.Database): void {
  const columns = db.prepare('PRAGMA table_info(ds_streams)').all() as Array<{ name: string }>;
  if (!columns.some((c) => c.name === 'charge')) {
    db.exec('ALTER TABLE ds_streams ADD COLUMN charge INTEGER NOT NULL DEFAULT 0');
  }
  const rows = db.prepare('SELECT path, meta FROM ds_streams WHERE charge = 0').all() as Array<{
    path: string;
    meta: string;
  }>;
  if (rows.length === 0) return;
  const set = db.prepare('UPDATE ds_streams SET charge = ? WHERE path = ?');
  db.transaction(() => {
    for (const r of rows) {
      const meta = JSON.parse(r.meta) as StreamMeta;
      set.run(chargeOf(meta, r.meta, recordOverhead('sqlite', meta)), r.path);
    }
  })();
}

/** The streams file next to a hub's SQLite file: `x/cometa.db` → `x/cometa.streams.db`. */
export function streamsFileOf(path: string): string {
  if (path === ':memory:') return path;
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash ? `${path.slice(0, dot)}.streams${path.slice(dot)}` : `${path}.streams`;
}
