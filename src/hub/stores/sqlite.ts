import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { newEpoch } from '../../protocol/cursor.js';
import {
  type ChannelGap,
  type ChannelInfo,
  type GapReason,
  type LastResult,
  type ReadResult,
  type Store,
  type StoreContext,
  type StoredMessage,
  type StoreEvent,
  StoreUnavailableError,
} from './store.js';

/** How hard a commit is pushed to disk; see docs/stores.md. */
export type SqliteSync = 'normal' | 'full';

export interface SqliteStoreOptions {
  /**
   * `normal` (default): WAL + synchronous=NORMAL. A resolved append has been written to the WAL
   * through the OS, so it survives a crash or `kill -9` of the process; a power loss or kernel
   * crash may lose the last commits (never corrupts the file).
   * `full`: WAL + synchronous=FULL, every commit is fsync'ed; survives power loss too, at the cost
   * of one fsync per publish.
   */
  sync?: SqliteSync;
}

interface PendingAppend {
  channel: string;
  event: string;
  json: string | null;
  data: unknown;
  time: number;
  resolve: (message: StoredMessage) => void;
  reject: (err: unknown) => void;
}

interface MessageRow {
  seq: number;
  channel: string;
  event: string;
  data: string | null;
  time: number;
}

interface ChannelRow {
  channel: string;
  last_seq: number;
  floor: number;
  floor_reason: string;
  stored: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY,
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT,
  time INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_channel_seq ON messages (channel, seq);
CREATE TABLE IF NOT EXISTS channels (
  channel TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  floor INTEGER NOT NULL DEFAULT 0,
  floor_reason TEXT NOT NULL DEFAULT 'trimmed',
  stored INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`;

/**
 * Durable history in one SQLite file (better-sqlite3, WAL). One hub process owns the file: it is
 * opened in EXCLUSIVE locking mode, so a second hub pointed at the same file fails to open instead
 * of interleaving sequence numbers. The epoch is created once and kept in the file, so cursors
 * stay valid across restarts. Schema:
 *
 * - `messages(seq INTEGER PRIMARY KEY, channel, event, data JSON text, time)`, index (channel, seq)
 * - `channels(channel, last_seq, floor, floor_reason, stored)`: per-channel newest seq, gap floor
 *   (highest seq removed by retention or deletion, and why) and retained count
 * - `meta(key, value)`: `epoch`
 *
 * The head seq is `max(channels.last_seq)`: channel rows are never deleted (a drop keeps the row
 * with its floor), so a seq is never reused even when the newest messages are dropped.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  epoch = '';
  readonly path: string;
  readonly #ctx: StoreContext;
  readonly #sync: SqliteSync;
  #db: Database.Database | undefined;
  #seq = 0;
  #listener: (event: StoreEvent) => void = () => {};
  #st: ReturnType<typeof prepare> | undefined;
  #appendTx: ((batch: readonly PendingAppend[]) => number) | undefined;
  /** Appends waiting for the next group commit (one transaction per event-loop turn). */
  #pending: PendingAppend[] = [];
  #sweepTx: ((now: number) => void) | undefined;
  #dropTx: ((channel: string) => void) | undefined;

  constructor(path: string, ctx: StoreContext, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.#ctx = ctx;
    this.#sync = options.sync ?? 'normal';
  }

  async open(): Promise<void> {
    if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
    const db = new Database(this.path, { timeout: 2000 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${this.#sync === 'full' ? 'FULL' : 'NORMAL'}`);
      db.exec(SCHEMA);
      // Take the write lock now (held until close in EXCLUSIVE mode): a second hub on this file
      // fails here, not on its first publish.
      db.transaction(() => {
        db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)`).run(newEpoch());
      }).immediate();
    } catch (err) {
      db.close();
      if (isBusy(err))
        throw new Error(`sqlite store ${this.path} is in use by another process (one hub per SQLite file)`, {
          cause: err,
        });
      throw err;
    }
    this.#db = db;
    const st = prepare(db);
    this.#st = st;
    this.epoch = (st.getMeta.get('epoch') as { value: string }).value;
    this.#seq = (st.head.get() as { head: number | null }).head ?? 0;

    this.#appendTx = db.transaction((batch: readonly PendingAppend[]) => {
      let seq = this.#seq;
      for (const { channel, event, json, time } of batch) {
        seq++;
        st.insert.run(seq, channel, event, json, time);
        const row = st.bump.get(channel, seq) as { stored: number };
        const { maxMessages } = this.#ctx.retentionFor(channel);
        const excess = row.stored - Math.max(0, maxMessages);
        if (excess > 0) {
          // The newest removed message becomes the floor.
          const cut = st.nthOldest.get(channel, excess - 1) as { seq: number };
          st.deleteUpTo.run(channel, cut.seq);
          st.setFloor.run(cut.seq, 'trimmed', excess, channel);
        }
      }
      return seq;
    });

    this.#sweepTx = db.transaction((now: number) => {
      for (const { channel } of st.liveChannels.all() as { channel: string }[]) {
        const cutoff = now - this.#ctx.retentionFor(channel).maxAgeMs;
        const oldest = st.oldest.get(channel) as { seq: number; time: number } | undefined;
        if (!oldest || oldest.time >= cutoff) continue;
        // Like the memory store: drop the prefix (in seq order) of messages older than the cutoff.
        const keep = st.firstFresh.get(channel, cutoff) as { seq: number } | undefined;
        const bound = keep ? keep.seq : Number.MAX_SAFE_INTEGER;
        const cut = st.lastBefore.get(channel, bound) as { seq: number };
        const removed = st.deleteUpTo.run(channel, cut.seq).changes;
        st.setFloor.run(cut.seq, 'trimmed', removed, channel);
      }
    });

    this.#dropTx = db.transaction((channel: string) => {
      const row = st.channel.get(channel) as ChannelRow | undefined;
      if (!row || row.last_seq <= 0) return;
      st.deleteChannel.run(channel);
      st.setDropped.run(channel);
    });
  }

  async head(): Promise<number> {
    this.#flush(); // operations see every append made before them, as with the memory store
    return this.#seq;
  }

  listen(listener: (event: StoreEvent) => void): void {
    this.#listener = listener;
  }

  /**
   * Group commit: appends made during one event-loop turn are committed together in one
   * transaction (setImmediate), then each resolves, in seq order. A resolved append is committed.
   */
  append(channel: string, event: string, data: unknown, time: number): Promise<StoredMessage> {
    return new Promise((resolve, reject) => {
      const json = data === undefined ? null : JSON.stringify(data);
      if (this.#pending.length === 0) setImmediate(() => this.#flush());
      this.#pending.push({ channel, event, json, data, time, resolve, reject });
    });
  }

  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let last: number;
    try {
      last = this.#tx(this.#appendTx)(batch);
    } catch (err) {
      const error = unavailable(err);
      for (const p of batch) p.reject(error);
      return;
    }
    let seq = last - batch.length;
    this.#seq = last;
    for (const p of batch) {
      const message: StoredMessage = {
        seq: ++seq,
        channel: p.channel,
        event: p.event,
        data: p.data,
        time: p.time,
      };
      try {
        this.#listener({ type: 'message', message });
      } catch (err) {
        p.reject(err); // like the memory store: the listener's error reaches the publisher
        continue;
      }
      p.resolve(message);
    }
  }

  async read(channels: readonly string[], after: number, limit: number): Promise<ReadResult> {
    this.#flush();
    const st = this.#prepared();
    const gaps: ChannelGap[] = [];
    let rows: MessageRow[] = [];
    for (const channel of channels) {
      const row = st.channel.get(channel) as ChannelRow | undefined;
      if (!row) continue;
      if (after < row.floor) gaps.push({ channel, reason: row.floor_reason as GapReason });
      // Each channel contributes at most limit + 1 (the +1 tells whether there is more).
      for (const m of st.readOne.iterate(channel, after, limit + 1)) rows.push(m as MessageRow);
    }
    if (channels.length > 1) rows.sort(bySeq);
    const more = rows.length > limit;
    if (more) rows = rows.slice(0, limit);
    return { messages: rows.map(toMessage), gaps, more, head: this.#seq };
  }

  async last(channels: readonly string[], n: number): Promise<LastResult> {
    this.#flush();
    const st = this.#prepared();
    const rows: MessageRow[] = [];
    if (n > 0) for (const channel of channels) rows.push(...(st.lastOne.all(channel, n) as MessageRow[]));
    rows.sort(bySeq);
    return { messages: rows.map(toMessage), head: this.#seq };
  }

  async info(channel: string): Promise<ChannelInfo> {
    this.#flush();
    const row = this.#prepared().channel.get(channel) as ChannelRow | undefined;
    return { lastSeq: row?.last_seq ?? 0, stored: row?.stored ?? 0 };
  }

  async drop(channel: string): Promise<void> {
    this.#flush();
    try {
      this.#tx(this.#dropTx)(channel);
    } catch (err) {
      throw unavailable(err);
    }
    this.#listener({ type: 'deleted', channel, time: Date.now() });
  }

  sweep(now: number): void {
    this.#flush();
    if (!this.#db) return;
    this.#tx(this.#sweepTx)(now);
  }

  async close(): Promise<void> {
    this.#flush();
    const db = this.#db;
    this.#db = undefined;
    this.#st = undefined;
    db?.close();
  }

  #prepared(): ReturnType<typeof prepare> {
    if (!this.#st) throw new StoreUnavailableError(`sqlite store ${this.path} is not open`);
    return this.#st;
  }

  #tx<T>(fn: T | undefined): T {
    if (!fn || !this.#db) throw new StoreUnavailableError(`sqlite store ${this.path} is not open`);
    return fn;
  }
}

function prepare(db: Database.Database) {
  return {
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    head: db.prepare('SELECT max(last_seq) AS head FROM channels'),
    insert: db.prepare('INSERT INTO messages (seq, channel, event, data, time) VALUES (?, ?, ?, ?, ?)'),
    bump: db.prepare(
      `INSERT INTO channels (channel, last_seq, stored) VALUES (?, ?, 1)
       ON CONFLICT (channel) DO UPDATE SET last_seq = excluded.last_seq, stored = stored + 1
       RETURNING stored`,
    ),
    nthOldest: db.prepare('SELECT seq FROM messages WHERE channel = ? ORDER BY seq LIMIT 1 OFFSET ?'),
    deleteUpTo: db.prepare('DELETE FROM messages WHERE channel = ? AND seq <= ?'),
    setFloor: db.prepare(
      'UPDATE channels SET floor = ?, floor_reason = ?, stored = stored - ? WHERE channel = ?',
    ),
    liveChannels: db.prepare('SELECT channel FROM channels WHERE stored > 0'),
    oldest: db.prepare('SELECT seq, time FROM messages WHERE channel = ? ORDER BY seq LIMIT 1'),
    firstFresh: db.prepare('SELECT seq FROM messages WHERE channel = ? AND time >= ? ORDER BY seq LIMIT 1'),
    lastBefore: db.prepare('SELECT max(seq) AS seq FROM messages WHERE channel = ? AND seq < ?'),
    channel: db.prepare('SELECT * FROM channels WHERE channel = ?'),
    deleteChannel: db.prepare('DELETE FROM messages WHERE channel = ?'),
    setDropped: db.prepare(
      `UPDATE channels SET floor = last_seq, floor_reason = 'deleted', stored = 0 WHERE channel = ?`,
    ),
    readOne: db.prepare(
      'SELECT seq, channel, event, data, time FROM messages WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?',
    ),
    lastOne: db.prepare(
      'SELECT seq, channel, event, data, time FROM messages WHERE channel = ? ORDER BY seq DESC LIMIT ?',
    ),
  };
}

function bySeq(a: { seq: number }, b: { seq: number }): number {
  return a.seq - b.seq;
}

function toMessage(row: MessageRow): StoredMessage {
  return {
    seq: row.seq,
    channel: row.channel,
    event: row.event,
    data: row.data === null ? undefined : JSON.parse(row.data),
    time: row.time,
  };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Disk full, I/O errors, a locked file: the hub should answer 503, not 500. */
function unavailable(err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    /^SQLITE_(FULL|IOERR|BUSY|LOCKED|CANTOPEN|READONLY|CORRUPT|NOTADB)/.test(code)
  )
    return new StoreUnavailableError(`sqlite store: ${(err as Error).message}`, { cause: err });
  return err;
}
