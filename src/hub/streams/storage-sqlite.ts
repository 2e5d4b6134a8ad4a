import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { StreamMeta, StreamRecord, StreamStorage, StreamWrite } from './storage.js';
import { expiryOf } from './storage.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ds_streams (
  path TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  expires REAL,
  meta TEXT NOT NULL
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
  #commit: ((writes: StreamWrite[]) => void) | undefined;
  readonly #listeners: Array<(path: string) => void> = [];
  #st:
    | {
        load: Database.Statement;
        version: Database.Statement;
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
    } catch (err) {
      db.close();
      throw err;
    }
    const st = {
      load: db.prepare('SELECT meta FROM ds_streams WHERE path = ?').pluck(),
      version: db.prepare('SELECT version FROM ds_streams WHERE path = ?').pluck(),
      upsert: db.prepare(
        'INSERT INTO ds_streams (path, version, expires, meta) VALUES (?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET version = excluded.version, expires = excluded.expires, meta = excluded.meta',
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
    this.#commit = db.transaction((writes: StreamWrite[]) => {
      for (const w of writes) {
        const v = (st.version.get(w.path) as number | undefined) ?? 0;
        if (v !== w.expect) throw new Conflict();
      }
      for (const w of writes) {
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
          JSON.stringify(w.meta),
        );
        if (w.append !== undefined && w.append.length > 0) {
          let idx = w.meta.count - w.append.length;
          for (const r of w.append) st.insertRecord.run(w.path, idx++, r.offset, r.end ? 1 : 0, r.data);
        }
      }
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

  async commit(writes: StreamWrite[]): Promise<boolean> {
    this.#statements();
    try {
      this.#commit!(writes);
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

/** The streams file next to a hub's SQLite file: `x/cometa.db` → `x/cometa.streams.db`. */
export function streamsFileOf(path: string): string {
  if (path === ':memory:') return path;
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  return dot > slash ? `${path.slice(0, dot)}.streams${path.slice(dot)}` : `${path}.streams`;
}
