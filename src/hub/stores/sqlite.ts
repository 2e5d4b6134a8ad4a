import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { newEpoch } from '../../protocol/cursor.js';
import { ActiveCollector, planActive } from './active-index.js';
import { type ChannelState, ChannelStates } from './sqlite-channels.js';
import { HighWaterMark } from './sqlite-hwm.js';
import { openDatabase } from './sqlite-native.js';
import {
  type ActiveChannels,
  type ChannelGap,
  type ChannelInfo,
  channelPage,
  type GapReason,
  type IdempotencyKey,
  type LastResult,
  mergePage,
  type OnceResult,
  type ReadResult,
  type Store,
  type StoreCacheStats,
  type StoreContext,
  type StoredMessage,
  type StoreEvent,
  StoreUnavailableError,
} from './store.js';
import { TailCache } from './tail-cache.js';

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
  /**
   * Newest messages kept in memory per recently read channel, so resume reads (every long-poll
   * round trip, every reconnect) do not query the file; 0 turns the cache off.
   * @default 32
   */
  cacheMessages?: number;
  /**
   * Bound on the memory the cache holds (estimated from message sizes); least recently read
   * channels are evicted first.
   * @default 16777216 (16 MiB)
   */
  cacheBytes?: number;
  /**
   * Channels whose counters (newest seq, floor, retained count) are kept in memory without changes
   * waiting to be written; beyond it the first loaded or written back are forgotten, and read from
   * the file again when needed (sqlite-channels.ts).
   * @default 65536
   */
  cacheChannels?: number;
  /**
   * Disk quota: bytes the database may use (its pages in use, indexes included, as SQLite counts
   * them; the WAL, up to a checkpoint's worth, comes on top). Past it the oldest messages are
   * dropped first, whatever their channel, down to 7/8 of the quota, and a resume from before them
   * gets a `gap` (reason `trimmed`). Freed pages are reused; the file does not shrink. 0: no quota.
   * @default 1073741824 (1 GiB)
   */
  maxBytes?: number;
}

/** @see SqliteStoreOptions.cacheMessages */
export const DEFAULT_CACHE_MESSAGES = 32;
/** @see SqliteStoreOptions.cacheBytes */
export const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
/** @see SqliteStoreOptions.cacheChannels */
export const DEFAULT_CACHE_CHANNELS = 65536;
/** An idempotency row and its expiry index entry, besides the channel and key (both in each). */
const KEY_ROW_BYTES = 64;

/** What an idempotency key takes on disk, roughly (see KEY_ROW_BYTES). */
function keyDiskBytes(channel: string, key: string): number {
  return 2 * (channel.length + key.length) + KEY_ROW_BYTES;
}

/** @see SqliteStoreOptions.maxBytes */
export const DEFAULT_DISK_BYTES = 1024 * 1024 * 1024;

interface PendingAppend {
  channel: string;
  event: string;
  json: string | null;
  data: unknown;
  time: number;
  /** The idempotency key stored with the message (appendOnce), in the same transaction. */
  idem: IdempotencyKey | undefined;
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

/**
 * Trimmed messages stay on disk as dead rows (at or below their channel's floor, skipped by every
 * query) until a purge deletes them: after a group commit once this many have piled up, after each
 * age sweep (every second in a hub), on close and on open (after a crash). Deleting them in bulk
 * dirties a few pages per channel instead of two more pages per append (measured with 100 full
 * channels and one append in flight: 5.3 -> 3.2 WAL pages per append; 1024 or 16384 do no better).
 */
const PURGE_AFTER = 4096;

/**
 * Appends are committed into `journal`, a table with no index besides its rowid, and moved into
 * `messages` in bulk: an append straight into `messages` also dirtied its channel's page of the
 * (channel, seq) index, a different page for nearly every append of a group commit, each one more
 * WAL frame; moved in bulk, each index page is written once per move. The
 * move runs once this many rows wait, and before anything queries `messages`: a read or last-N the
 * tail cache cannot answer, a sweep, a drop, a purge, close, and open (rows a crash left). Measured
 * with better-sqlite3 alone (4 appends per commit over 100 full channels): 15.2 -> 10.3 µs CPU per
 * append (medians of 9 unpinned rounds; 13.9 -> 9.8 in 5 pinned); 256 saved less (12.8), 4096 no
 * more (10.1). Moved in seq order, not sorted by channel: 9.3 -> 8.8 µs (3 of 3 pinned pairs).
 * A read the tail cache cannot answer moves the journal first, so with `cacheMessages: 0` reads
 * right after appends pay for small moves, and on a failing disk such reads fail too (503).
 */
const MOVE_AFTER = 1024;

/**
 * A channel's head (its first segment: channelHead in active-index.ts) in SQL. Indexed as an
 * expression, not stored in a column: a file from before the index gets it from the `CREATE INDEX
 * IF NOT EXISTS` at open (built once from the rows), with no change to the table, and SQLite keeps
 * it up to date whatever writes the rows. Queries must spell it the same to use the index.
 */
export const HEAD_SQL = "substr(channel, 1, instr(channel || '.', '.') - 1)";

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
CREATE TABLE IF NOT EXISTS journal (
  seq INTEGER PRIMARY KEY,
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT,
  time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
  channel TEXT NOT NULL,
  key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  expires INTEGER NOT NULL,
  PRIMARY KEY (channel, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expires ON idempotency (expires);
CREATE TABLE IF NOT EXISTS channels (
  channel TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  floor INTEGER NOT NULL DEFAULT 0,
  floor_reason TEXT NOT NULL DEFAULT 'trimmed',
  stored INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS channels_last_seq ON channels (last_seq);
CREATE INDEX IF NOT EXISTS channels_head_last_seq ON channels (${HEAD_SQL}, last_seq);
`;

/**
 * Durable history in one SQLite file (better-sqlite3, WAL). One hub process owns the file: it is
 * opened in EXCLUSIVE locking mode, so a second hub pointed at the same file fails to open instead
 * of interleaving sequence numbers. The epoch is created once and kept in the file, so cursors
 * stay valid across restarts. Schema:
 *
 * - `messages(seq INTEGER PRIMARY KEY, channel, event, data JSON text, time)`, index (channel, seq)
 * - `journal`: the same columns, no index: appends land here and move to `messages` in bulk
 *   (see MOVE_AFTER); its rows are committed messages like the others
 * - `channels(channel, last_seq, floor, floor_reason, stored)`: per-channel newest seq, gap floor
 *   (highest seq removed by retention or deletion, and why) and retained count. Rows at or below
 *   the floor are dead: every query skips them, and they are deleted in bulk (see PURGE_AFTER).
 *   The store keeps these counters in memory and writes them back lazily (sqlite-channels.ts): a
 *   row is exact up to seq `meta.through`, and open() recounts channels with messages above it.
 * - `meta(key, value)`: `epoch`, `through`
 *
 * The head seq is the larger of `max(messages.seq)` and `max(channels.last_seq)`, once open() has
 * moved the journal: channel rows are never deleted (a drop keeps the row with its floor, written
 * in the drop's transaction), and dead rows are deleted only in a transaction that first writes
 * their floor, so a seq is never reused even when the newest messages are dropped.
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
  #purgeTx: ((channels: Iterable<string>) => void) | undefined;
  /** Channels that may have dead rows on disk (trimmed by count but not yet deleted), and how many. */
  #dead = new Set<string>();
  #deadRows = 0;
  readonly #cache: TailCache;
  readonly #states: ChannelStates;
  #writeBackTx: (() => void) | undefined;
  /**
   * Floors the running transaction raised, as channel, floor, rows now dead, channel, ...: applied
   * (to the tail cache and the dead-row bookkeeping) only once it committed.
   */
  #raised: Array<string | number> = [];
  /** Seqs of the rows in `journal`, per channel, ascending (what trims need without a query). */
  #journal = new Map<string, number[]>();
  #journalRows = 0;
  /** Channels whose journal list the running append transaction pushed to, to undo a rollback. */
  #journalAdded: string[] = [];
  #moveTx: (() => void) | undefined;
  /** The newest acknowledged seq, kept outside the database (sqlite-hwm.ts); none for `:memory:`. */
  #hwm: HighWaterMark | undefined;
  /**
   * Set by open() when the file had lost acknowledged messages (its head below the high-water
   * mark of its epoch, or the mark missing): the store went on under a new epoch. For the log.
   */
  lostHistory: string | undefined;
  /** See {@link SqliteStoreOptions.maxBytes}. */
  readonly #maxBytes: number;
  /** Bytes of data appended since the database's size was last compared with the quota. */
  #sinceQuotaCheck = 0;
  #evictTx: ((target: number) => number) | undefined;
  /** Keyed appends waiting for their commit, by channel and key: a retry meanwhile waits for it. */
  readonly #keyed = new Map<string, { fingerprint: string; stored: Promise<StoredMessage> }>();

  constructor(path: string, ctx: StoreContext, options: SqliteStoreOptions = {}) {
    this.path = path;
    this.#ctx = ctx;
    this.#maxBytes = count('maxBytes', options.maxBytes, DEFAULT_DISK_BYTES);
    this.#sync = options.sync ?? 'normal';
    this.#cache = new TailCache(
      count('cacheMessages', options.cacheMessages, DEFAULT_CACHE_MESSAGES),
      count('cacheBytes', options.cacheBytes, DEFAULT_CACHE_BYTES),
    );
    this.#states = new ChannelStates(
      count('cacheChannels', options.cacheChannels, DEFAULT_CACHE_CHANNELS),
      (channel) => this.#loadState(channel),
    );
  }

  async open(): Promise<void> {
    if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
    const db = openDatabase(this.path, { timeout: 2000 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${this.#sync === 'full' ? 'FULL' : 'NORMAL'}`);
      // Checkpoint every 4096 WAL pages (16 MiB at 4 KiB pages) rather than SQLite's 1000: the hot
      // pages (channel rows, index tails) are copied into the database once per checkpoint however
      // often they were rewritten, and each checkpoint costs two fsyncs (measured with 4 appends in
      // flight on 100 full channels: 24 -> 21 us CPU per append; 16384 pages did no better).
      db.pragma('wal_autocheckpoint = 4096');
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
    try {
      this.#start(db);
    } catch (err) {
      // A store that failed to open holds nothing: no lock on the file, no half-made state.
      this.#abandon(db);
      throw err;
    }
  }

  /**
   * Compares the file's head with the high-water mark kept beside it: lower in the same epoch (or
   * the mark gone once the file had one) means acknowledged messages were lost, so the store starts
   * a new epoch, and their ids are never handed out again. Then holds the mark open for appends.
   */
  #checkHighWaterMark(st: ReturnType<typeof prepare>): void {
    if (this.path === ':memory:') return;
    const hwm = new HighWaterMark(this.path, this.#sync === 'full');
    const mark = hwm.read();
    const tracked = st.getMeta.get('hwm') !== undefined;
    let lost: string | undefined;
    if (mark !== undefined && mark.epoch === this.epoch) {
      if (mark.seq > this.#seq)
        lost = `head ${this.#seq} is below the ${mark.seq} acknowledged (database restored or its WAL lost)`;
    } else if (tracked) lost = `its high-water mark ${hwm.path} is missing or from another database`;
    if (lost !== undefined) {
      const old = this.epoch;
      this.epoch = newEpoch();
      st.putMeta.run('epoch', this.epoch);
      this.lostHistory = `sqlite store ${this.path}: ${lost}; epoch ${old} -> ${this.epoch}`;
    }
    if (!tracked) st.putMeta.run('hwm', '1');
    hwm.open(this.epoch, this.#seq);
    this.#hwm = hwm;
  }

  /** open()'s second half: statements and transactions, recovery after a crash, the first purge. */
  #start(db: Database.Database): void {
    const st = prepare(db);
    this.#st = st;
    // Moves the journal into `messages`, in the transaction that calls it; #moved() after commit.
    const move = (): void => {
      st.moveJournal.run();
      st.clearJournal.run();
    };
    this.#moveTx = db.transaction(move);
    // Rows a crash left in the journal: committed messages, queried like the others below. In one
    // transaction: a crash between the copy and the delete would leave both, and every later open
    // would fail on the copy's duplicate seqs.
    this.#moveTx();
    this.epoch = (st.getMeta.get('epoch') as { value: string }).value;
    this.#seq = Math.max(
      (st.head.get() as { head: number | null }).head ?? 0,
      (st.maxSeq.get() as { seq: number | null }).seq ?? 0,
    );
    this.#checkHighWaterMark(st);

    this.#appendTx = db.transaction((batch: readonly PendingAppend[]) => {
      let seq = this.#seq;
      for (const p of batch) {
        const { channel, event, json, time } = p;
        seq++;
        st.insert.run(seq, channel, event, json, time);
        const queued = this.#journal.get(channel);
        if (queued === undefined) this.#journal.set(channel, [seq]);
        else queued.push(seq);
        this.#journalAdded.push(channel);
        const s = this.#states.change(channel);
        s.lastSeq = seq;
        s.stored++;
        this.#trimByCount(channel, s);
        if (p.idem !== undefined) this.#remember(channel, p.idem, seq, time);
      }
      return seq;
    });

    // Writes the changed channel rows, exact up to the head (meta.through), in the transaction
    // that calls it.
    const writeBack = (): void => {
      if (this.#states.writeBack((c, s) => st.putChannel.run(c, s.lastSeq, s.floor, s.reason, s.stored)))
        st.putMeta.run('through', String(this.#seq));
    };
    this.#writeBackTx = db.transaction(writeBack);
    // Deletes dead rows (seq <= floor), after writing the floors: the bound is the floor in the
    // file, so a crash never leaves a channel without rows and without the floor that covers them.
    this.#purgeTx = db.transaction((channels: Iterable<string>) => {
      move();
      writeBack();
      for (const channel of channels) st.deleteDead.run({ c: channel });
    });

    // After a crash, rows are exact only up to meta.through (every row when it is missing: files
    // written before rows were kept in memory). Channels with messages above it are counted again,
    // and trimmed to their retention as the appends would have (count only; age: the next sweep).
    const throughRow = st.getMeta.get('through') as { value: string } | undefined;
    const through = throughRow === undefined ? this.#seq : Number(throughRow.value);
    this.#raised.length = 0;
    this.#tx(
      db.transaction(() => {
        // From now on the file says how far its rows are exact, so a crash before the first write-back
        // is recovered like any other.
        if (throughRow === undefined) st.putMeta.run('through', String(this.#seq));
        for (const channel of st.staleChannels.pluck().all(through) as string[]) {
          const s = this.#states.change(channel);
          const newest = (st.maxSeqOf.get(channel) as { seq: number }).seq;
          s.lastSeq = Math.max(s.lastSeq, s.floor, newest);
          s.stored = (st.countLive.get(channel, s.floor, Number.MAX_SAFE_INTEGER) as { n: number }).n;
          this.#trimByCount(channel, s);
        }
        writeBack();
      }),
    )();
    this.#states.committed();
    this.#applyRaised();
    // Dead rows left by a crash between a trim and its purge.
    for (const channel of st.deadChannels.pluck().all() as string[]) this.#dead.add(channel);
    this.#purge();

    this.#sweepTx = db.transaction((now: number) => {
      move();
      writeBack(); // the file's rows are the channels with live messages, and their floors
      for (const { channel, floor } of st.liveChannels.all() as { channel: string; floor: number }[]) {
        const cutoff = now - this.#ctx.retentionFor(channel).maxAgeMs;
        const oldest = st.oldestLive.get(channel, floor) as { time: number } | undefined;
        if (!oldest || oldest.time >= cutoff) continue;
        // Like the memory store: drop the prefix (in seq order) of messages older than the cutoff,
        // by raising the floor like a trim on append (the purge after this deletes the rows).
        const keep = st.firstFresh.get(channel, floor, cutoff) as { seq: number } | undefined;
        const bound = keep ? keep.seq : Number.MAX_SAFE_INTEGER;
        const cut = st.lastBefore.get(channel, bound) as { seq: number };
        const removed = (st.countLive.get(channel, floor, cut.seq) as { n: number }).n;
        this.#trim(channel, this.#states.change(channel), cut.seq, removed);
      }
      writeBack();
    });

    // Drops the oldest live messages over all channels until about `target` bytes of them are
    // gone (their floors raised, as a trim; the purge after it deletes the rows). Returns the bytes.
    this.#evictTx = db.transaction((target: number): number => {
      move();
      const cuts = new Map<string, { cut: number; removed: number }>();
      let after = 0;
      let freed = 0;
      while (freed < target) {
        const rows = st.oldest.all(after, 1024) as { seq: number; channel: string; n: number }[];
        if (rows.length === 0) break;
        for (const r of rows) {
          after = r.seq;
          const s = this.#states.get(r.channel);
          if (s === undefined || r.seq <= s.floor) continue; // dead, waiting for its purge
          const c = cuts.get(r.channel);
          if (c === undefined) cuts.set(r.channel, { cut: r.seq, removed: 1 });
          else {
            c.cut = r.seq;
            c.removed++;
          }
          freed += r.n;
          if (freed >= target) break;
        }
      }
      for (const [channel, c] of cuts) this.#trim(channel, this.#states.change(channel), c.cut, c.removed);
      writeBack();
      return freed;
    });

    this.#dropTx = db.transaction((channel: string) => {
      const known = this.#states.get(channel);
      move();
      if (!known || known.lastSeq <= 0) return;
      st.deleteChannel.run(channel);
      const s = this.#states.change(channel);
      s.floor = s.lastSeq;
      s.reason = 'deleted';
      s.stored = 0;
      writeBack(); // the floor is in the file with the deletion
    });
  }

  /**
   * Trims a channel to its count retention by raising its floor to the newest removed message. The
   * rows stay on disk, dead (every query skips seq <= floor), until #purge() deletes many at once:
   * deleting the oldest row here would dirty two more pages (its table and index leaves) per append.
   */
  #trimByCount(channel: string, s: ChannelState): void {
    const excess = s.stored - Math.max(0, this.#ctx.retentionFor(channel).maxMessages);
    if (excess <= 0) return;
    this.#trim(channel, s, this.#nthLive(channel, s, excess - 1), excess);
  }

  /**
   * The seq of a channel's live message number `k` (0 = oldest), in `messages` or the journal:
   * every journal row is newer than every `messages` row, and the journal's seqs are in memory.
   */
  #nthLive(channel: string, s: ChannelState, k: number): number {
    const queued = this.#journal.get(channel);
    // The first journal row above the floor (binary search: a busy channel can have 1024 there).
    let first = 0;
    if (queued !== undefined) {
      let hi = queued.length;
      while (first < hi) {
        const mid = (first + hi) >>> 1;
        if (queued[mid]! <= s.floor) first = mid + 1;
        else hi = mid;
      }
    }
    const inTable = s.stored - (queued === undefined ? 0 : queued.length - first);
    if (k < inTable) return (this.#prepared().nthLive.get(channel, s.floor, k) as { seq: number }).seq;
    return queued![first + k - inTable]!;
  }

  /**
   * Raises a channel's floor to `cut`, `removed` messages fewer retained; the tail cache and the
   * dead-row count follow once the transaction commits (#applyRaised).
   */
  #trim(channel: string, s: ChannelState, cut: number, removed: number): void {
    s.floor = cut;
    s.reason = 'trimmed';
    s.stored -= removed;
    this.#raised.push(channel, cut, removed);
  }

  /** Closes the file and forgets everything open() made (it failed part way). */
  #abandon(db: Database.Database): void {
    try {
      this.#hwm?.close(this.epoch, this.#seq);
    } catch {
      // nothing was acknowledged by this open
    }
    this.#hwm = undefined;
    this.#db = undefined;
    this.#st = undefined;
    this.#appendTx = this.#writeBackTx = this.#purgeTx = this.#sweepTx = this.#dropTx = undefined;
    this.#evictTx = undefined;
    this.#moveTx = undefined;
    this.#moved();
    this.#states.clear();
    this.#cache.clear();
    this.#raised.length = 0;
    this.#dead.clear();
    this.#deadRows = 0;
    db.close();
  }

  /** A channel's row from the file, for {@link ChannelStates}. */
  #loadState(channel: string): ChannelState | undefined {
    const row = this.#prepared().channel.get(channel) as ChannelRow | undefined;
    if (row === undefined) return undefined;
    return {
      lastSeq: row.last_seq,
      floor: row.floor,
      reason: row.floor_reason as GapReason,
      stored: row.stored,
    };
  }

  /**
   * Channel counters held in memory: at most {@link SqliteStoreOptions.cacheChannels} once written
   * back, plus the channels changed since.
   */
  get heldChannels(): number {
    return this.#states.size;
  }

  /** The tail cache's counters (see {@link SqliteStoreOptions.cacheMessages}). */
  get cacheStats(): StoreCacheStats {
    return this.#cache.stats;
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
    return this.#enqueue(channel, event, data, time, undefined);
  }

  #enqueue(
    channel: string,
    event: string,
    data: unknown,
    time: number,
    idem: IdempotencyKey | undefined,
  ): Promise<StoredMessage> {
    return new Promise((resolve, reject) => {
      const json = data === undefined ? null : JSON.stringify(data);
      // What the rows take on disk, roughly: the data, the names in the row and its index, and
      // an idempotency key in its table and index (tiny publishes with long keys count in full).
      this.#sinceQuotaCheck += (json?.length ?? 0) + 2 * channel.length + event.length + 48;
      if (idem !== undefined) this.#sinceQuotaCheck += keyDiskBytes(channel, idem.key);
      if (this.#pending.length === 0) setImmediate(() => this.#flush());
      this.#pending.push({ channel, event, json, data, time, idem, resolve, reject });
    });
  }

  /**
   * The key is looked up in the file (it survives restarts), then among the keyed appends not yet
   * committed; a new one is stored in the append's own transaction, so a message is never
   * committed without its key.
   */
  async appendOnce(
    channel: string,
    event: string,
    data: unknown,
    time: number,
    k: IdempotencyKey,
  ): Promise<OnceResult> {
    const st = this.#prepared();
    const id = `${channel}\n${k.key}`;
    const waiting = this.#keyed.get(id);
    if (waiting !== undefined) {
      const first = await waiting.stored;
      return { seq: first.seq, duplicate: true, mismatch: waiting.fingerprint !== k.fingerprint };
    }
    const row = st.keyGet.get(channel, k.key, time) as { seq: number; fingerprint: string } | undefined;
    if (row !== undefined)
      return { seq: row.seq, duplicate: true, mismatch: row.fingerprint !== k.fingerprint };
    const stored = this.#enqueue(channel, event, data, time, k);
    this.#keyed.set(id, { fingerprint: k.fingerprint, stored });
    try {
      return { seq: (await stored).seq, duplicate: false, mismatch: false };
    } finally {
      this.#keyed.delete(id);
    }
  }

  /** Stores a key with its message (inside the append transaction), keeping at most maxKeys per channel. */
  #remember(channel: string, k: IdempotencyKey, seq: number, time: number): void {
    const st = this.#prepared();
    st.keyPut.run(channel, k.key, seq, k.fingerprint, time + k.windowMs);
    const n = (st.keyCount.get(channel) as { n: number }).n;
    if (n > k.maxKeys) st.keyTrim.run(channel, channel, n - k.maxKeys);
  }

  #flush(): void {
    const batch = this.#pending;
    if (batch.length === 0) return;
    this.#pending = [];
    let last: number;
    this.#raised.length = 0;
    try {
      last = this.#tx(this.#appendTx)(batch);
    } catch (err) {
      this.#raised.length = 0; // rolled back
      this.#states.rolledBack();
      for (const channel of this.#journalAdded) this.#journal.get(channel)?.pop();
      this.#journalAdded.length = 0;
      const error = unavailable(err);
      for (const p of batch) p.reject(error);
      return;
    }
    this.#states.committed();
    this.#journalAdded.length = 0;
    this.#journalRows += batch.length;
    let seq = last - batch.length;
    this.#seq = last;
    this.#markAcknowledged(last);
    const messages: StoredMessage[] = [];
    for (const p of batch) {
      const { channel, event, data, time, json } = p;
      seq++;
      const message: StoredMessage =
        json === null ? { seq, channel, event, data, time } : { seq, channel, event, data, time, json };
      messages.push(message);
      this.#cache.append(message);
    }
    // The cache holds the whole committed batch, trims included, before any listener runs: a
    // listener may read (or publish and flush) synchronously, and must see what the file holds.
    this.#applyRaised();
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      const message = messages[i]!;
      try {
        this.#listener({ type: 'message', message });
      } catch (err) {
        p.reject(err); // like the memory store: the listener's error reaches the publisher
        continue;
      }
      p.resolve(message);
    }
    // After the listener: live delivery first.
    if (this.#maxBytes !== 0 && this.#sinceQuotaCheck >= Math.max(4096, this.#maxBytes / 64))
      this.#enforceQuota();
    if (this.#deadRows >= PURGE_AFTER) this.#purge();
    else if (this.#journalRows >= MOVE_AFTER) {
      try {
        this.#move();
      } catch {
        // The rows stay in the journal, committed; the next move retries (a failing disk shows on appends).
      }
    }
  }

  /** Bytes the database uses: its pages in use (not on the free list), as SQLite counts them. */
  get usedBytes(): number {
    const db = this.#db;
    if (db === undefined) return 0;
    const pages =
      (db.pragma('page_count', { simple: true }) as number) -
      (db.pragma('freelist_count', { simple: true }) as number);
    return pages * (db.pragma('page_size', { simple: true }) as number);
  }

  /**
   * Brings the database back under its quota (`maxBytes`), oldest messages first over all
   * channels: checked after group commits once 1/64 of the quota was appended since the last check.
   */
  #enforceQuota(): void {
    this.#sinceQuotaCheck = 0;
    this.#boundKeys();
    // A few rounds: what rows take on pages is estimated, the pages freed are measured.
    for (let round = 0; round < 8; round++) {
      const used = this.usedBytes;
      if (used <= this.#maxBytes) return;
      const target = used - Math.floor((this.#maxBytes * 7) / 8);
      this.#raised.length = 0;
      let freed: number;
      try {
        freed = this.#tx(this.#evictTx)(target);
      } catch {
        this.#raised.length = 0; // rolled back; the next check retries (a failing disk shows on appends)
        this.#states.rolledBack();
        return;
      }
      this.#states.committed();
      this.#moved();
      this.#applyRaised();
      this.#purge();
      if (freed === 0) return; // nothing left to drop
    }
  }

  /**
   * Idempotency keys take at most a quarter of the quota, the oldest forgotten first: a key
   * outlives its message, and keys alone over the quota would have every message evicted.
   */
  #boundKeys(): void {
    const st = this.#prepared();
    const { n, chars } = st.keyBytes.get() as { n: number; chars: number | null };
    const bytes = 2 * (chars ?? 0) + n * KEY_ROW_BYTES;
    const budget = Math.floor(this.#maxBytes / 4);
    if (n === 0 || bytes <= budget) return;
    const drop = Math.ceil(((bytes - budget) / bytes) * n);
    try {
      st.keyOldest.run(drop);
    } catch {
      // The next check retries (a failing disk shows on appends).
    }
  }

  /** Records `seq` in the high-water mark before any of its publishes is acknowledged. */
  #markAcknowledged(seq: number): void {
    try {
      this.#hwm?.write(this.epoch, seq);
    } catch {
      // The commit stands; a stale mark only weakens the rollback check (a lower mark never
      // refuses a file), and a failing disk shows on the next commit.
    }
  }

  /** Moves the journal into `messages` (own transaction), before a query of `messages`. */
  #move(): void {
    if (this.#journalRows === 0) return;
    try {
      this.#tx(this.#moveTx)();
    } catch (err) {
      throw unavailable(err);
    }
    this.#moved();
  }

  /** The journal was moved (its transaction committed), or the store forgets everything. */
  #moved(): void {
    this.#journal.clear();
    this.#journalRows = 0;
  }

  async read(
    channels: readonly string[],
    after: number,
    limit: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<ReadResult> {
    this.#flush();
    this.#prepared();
    const cache = this.#cache;
    const gaps: ChannelGap[] = [];
    const messages: StoredMessage[] = [];
    for (const channel of channels) {
      // Each channel contributes its page and one more message (which tells there is more).
      const cached = cache.read(channel, after, limit + 1);
      if (cached !== undefined) {
        for (const m of channelPage(cached, limit, maxBytes)) messages.push(m);
        continue;
      }
      const s = this.#states.get(channel);
      if (!s) {
        cache.fill(channel, 0, [], true); // never published: no message after any cursor
        continue;
      }
      if (after < s.floor) gaps.push({ channel, reason: s.reason });
      const from = Math.max(after, s.floor); // rows at or below the floor are dead
      for (const m of this.#readChannel(channel, from, s.floor, limit, maxBytes)) messages.push(m);
    }
    const page = mergePage(messages, channels.length <= 1, limit, maxBytes);
    return { messages: page.messages, gaps, more: page.more, head: this.#seq };
  }

  /**
   * One channel's page after `from` (see channelPage), read row by row: the rows past the page are
   * never read or parsed. Fills the tail cache when it got every live message after `from`.
   */
  #readChannel(
    channel: string,
    from: number,
    floor: number,
    limit: number,
    maxBytes: number,
  ): StoredMessage[] {
    this.#move();
    const source = new RowSource(
      this.#prepared().readOne.iterate(channel, from, limit + 1) as Iterator<MessageRow>,
    );
    const rows = channelPage(source, limit, maxBytes);
    source.close();
    // Not cut: every live message after `from`, which is what a tail holds.
    if (source.done && rows.length <= limit) this.#cache.fill(channel, from, rows, from === floor);
    return rows;
  }

  /**
   * The `channels` rows with a newest seq after `after`, newest first, filtered by the patterns:
   * through the index on (head, last_seq) for each pattern's head, or the one on last_seq when a
   * pattern has no head (active-index.ts). The rows are written back first: the file is then exact.
   */
  async activeChannels(patterns: readonly string[], after: number, max: number): Promise<ActiveChannels> {
    this.#flush();
    const st = this.#prepared();
    try {
      this.#tx(this.#writeBackTx)();
    } catch (err) {
      this.#states.rolledBack();
      throw unavailable(err);
    }
    this.#states.committed();
    const plan = planActive(patterns);
    const found = new ActiveCollector(max);
    // Head rows are [channel, last_seq] (merged over heads by seq). The global scan is the call's
    // only one, so it reads the names alone and ranks them by their order: over 100,000 rows that
    // took 89-93 ms instead of 127-136 ms with arrays (scripts/resume-bench.mjs, `*.nba`).
    const walk = (rows: IterableIterator<unknown>, matchers: ((c: string) => boolean)[], named: boolean) => {
      found.scan(matchers);
      let rank = 0;
      try {
        for (const row of rows) {
          if (found.budget === 0) return found.cut();
          const go = named
            ? found.offer(row as string, --rank)
            : found.offer((row as [string, number])[0], (row as [string, number])[1]);
          if (!go) return;
        }
      } finally {
        rows.return?.(); // the statement stays busy while its iterator is open
      }
    };
    if (plan.heads === undefined) walk(st.activeSince.iterate(after), plan.matchers, true);
    else
      for (const [head, matchers] of plan.heads) walk(st.activeUnder.iterate(head, after), matchers, false);
    return found.result();
  }

  async last(
    channels: readonly string[],
    n: number,
    limit = Number.MAX_SAFE_INTEGER,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<LastResult> {
    this.#flush();
    const st = this.#prepared();
    const cache = this.#cache;
    const messages: StoredMessage[] = [];
    if (n > 0)
      for (const channel of channels) {
        const cached = cache.last(channel, n);
        if (cached !== undefined) {
          for (const m of channelPage(cached, limit, maxBytes)) messages.push(m);
          continue;
        }
        const s = this.#states.get(channel);
        if (!s) continue;
        this.#move();
        // Where the newest n start (the index alone, no row read), then a page from there.
        const nth = st.nthNewest.get({ c: channel, f: s.floor, k: n - 1 }) as { seq: number } | undefined;
        const from = nth === undefined ? s.floor : nth.seq - 1;
        for (const m of this.#readChannel(channel, from, s.floor, limit, maxBytes)) messages.push(m);
      }
    const page = mergePage(messages, channels.length <= 1, limit, maxBytes);
    return { messages: page.messages, more: page.more, head: this.#seq };
  }

  /** Applies the floors the last committed transaction raised: tail cache, dead rows to purge. */
  #applyRaised(): void {
    const raised = this.#raised;
    for (let i = 0; i < raised.length; i += 3) {
      const channel = raised[i] as string;
      this.#cache.trim(channel, raised[i + 1] as number);
      this.#dead.add(channel);
      this.#deadRows += raised[i + 2] as number;
    }
    raised.length = 0;
  }

  async info(channel: string): Promise<ChannelInfo> {
    this.#flush();
    this.#prepared();
    const s = this.#states.get(channel);
    return { lastSeq: s?.lastSeq ?? 0, stored: s?.stored ?? 0 };
  }

  async drop(channel: string): Promise<void> {
    this.#flush();
    this.#cache.delete(channel); // the next read fills it again, with the drop's floor
    try {
      this.#tx(this.#dropTx)(channel);
    } catch (err) {
      this.#states.rolledBack();
      throw unavailable(err);
    }
    this.#states.committed();
    this.#moved();
    this.#dead.delete(channel); // the drop deleted every row of the channel
    this.#listener({ type: 'deleted', channel, time: Date.now() });
  }

  sweep(now: number): void {
    this.#flush();
    if (!this.#db) return;
    this.#raised.length = 0;
    try {
      this.#tx(this.#sweepTx)(now);
    } catch (err) {
      this.#raised.length = 0; // rolled back
      this.#states.rolledBack();
      throw err;
    }
    this.#states.committed();
    this.#moved();
    this.#applyRaised();
    this.#purge(); // once a second: dead rows do not outlive a second in a running hub
    try {
      this.#prepared().keyExpire.run(now);
    } catch {
      // Expired keys are ignored by lookups anyway; the next sweep retries.
    }
  }

  async close(): Promise<void> {
    this.#flush();
    if (this.#db) {
      try {
        this.#move();
      } catch {
        // the rows stay in the journal; open() moves them
      }
      this.#purge();
      try {
        this.#tx(this.#writeBackTx)();
        this.#states.committed();
      } catch {
        this.#states.rolledBack(); // the next open counts these channels again
      }
    }
    try {
      this.#hwm?.close(this.epoch, this.#seq);
    } catch {
      // the mark written after the last commit stands
    }
    this.#hwm = undefined;
    const db = this.#db;
    this.#db = undefined;
    this.#st = undefined;
    this.#writeBackTx = undefined;
    this.#cache.clear();
    this.#states.clear();
    this.#moved(); // what the journal holds, if its move failed, open() moves
    db?.close();
  }

  /**
   * Deletes the dead rows of every channel trimmed since the last purge, with the channel rows
   * written back first (one transaction).
   */
  #purge(): void {
    if (this.#dead.size === 0) return;
    try {
      this.#tx(this.#purgeTx)(this.#dead);
    } catch {
      this.#states.rolledBack();
      return; // the rows stay dead (invisible) and the next purge retries; a failing disk shows on appends
    }
    this.#states.committed();
    this.#moved();
    this.#dead.clear();
    this.#deadRows = 0;
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

/**
 * The channels with a message after a cursor, newest first (wildcard resumes of patterns with no
 * head): a search of the `channels_last_seq` index, so channels quiet since the cursor are never read.
 */
export const ACTIVE_SINCE = 'SELECT channel FROM channels WHERE last_seq > ? ORDER BY last_seq DESC';

/**
 * {@link ACTIVE_SINCE} under one head (`scores` for `scores.*`): a search of
 * `channels_head_last_seq`, so the channels under other heads are never read either.
 */
export const ACTIVE_UNDER = `SELECT channel, last_seq FROM channels WHERE ${HEAD_SQL} = ? AND last_seq > ? ORDER BY last_seq DESC`;

function prepare(db: Database.Database) {
  return {
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    head: db.prepare('SELECT max(last_seq) AS head FROM channels'),
    insert: db.prepare('INSERT INTO journal (seq, channel, event, data, time) VALUES (?, ?, ?, ?, ?)'),
    // In seq order: the table's rows append, and each index page is written once per move however
    // often it changes in it. Sorted by (channel, seq) cost 0.5 µs more per row (the sort).
    moveJournal: db.prepare(
      `INSERT INTO messages (seq, channel, event, data, time)
       SELECT seq, channel, event, data, time FROM journal ORDER BY seq`,
    ),
    clearJournal: db.prepare('DELETE FROM journal'),
    maxSeq: db.prepare('SELECT max(seq) AS seq FROM messages'),
    maxSeqOf: db.prepare('SELECT max(seq) AS seq FROM messages WHERE channel = ?'),
    staleChannels: db.prepare('SELECT DISTINCT channel FROM messages WHERE seq > ?'),
    putChannel: db.prepare(
      `INSERT INTO channels (channel, last_seq, floor, floor_reason, stored) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (channel) DO UPDATE SET last_seq = excluded.last_seq, floor = excluded.floor,
       floor_reason = excluded.floor_reason, stored = excluded.stored`,
    ),
    putMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    nthLive: db.prepare(
      'SELECT seq FROM messages WHERE channel = ? AND seq > ? ORDER BY seq LIMIT 1 OFFSET ?',
    ),
    deleteDead: db.prepare(
      'DELETE FROM messages WHERE channel = $c AND seq <= (SELECT floor FROM channels WHERE channel = $c)',
    ),
    deadChannels: db.prepare(
      `SELECT channel FROM channels c
       WHERE floor > 0 AND EXISTS (SELECT 1 FROM messages m WHERE m.channel = c.channel AND m.seq <= c.floor)`,
    ),
    liveChannels: db.prepare('SELECT channel, floor FROM channels WHERE stored > 0'),
    oldestLive: db.prepare('SELECT time FROM messages WHERE channel = ? AND seq > ? ORDER BY seq LIMIT 1'),
    firstFresh: db.prepare(
      'SELECT seq FROM messages WHERE channel = ? AND seq > ? AND time >= ? ORDER BY seq LIMIT 1',
    ),
    lastBefore: db.prepare('SELECT max(seq) AS seq FROM messages WHERE channel = ? AND seq < ?'),
    countLive: db.prepare('SELECT count(*) AS n FROM messages WHERE channel = ? AND seq > ? AND seq <= ?'),
    channel: db.prepare('SELECT * FROM channels WHERE channel = ?'),
    deleteChannel: db.prepare('DELETE FROM messages WHERE channel = ?'),
    // Names alone, and [channel, last_seq] arrays: no object per row of a long scan.
    activeSince: db.prepare(ACTIVE_SINCE).pluck(),
    activeUnder: db.prepare(ACTIVE_UNDER).raw(),
    keyGet: db.prepare(
      'SELECT seq, fingerprint FROM idempotency WHERE channel = ? AND key = ? AND expires > ?',
    ),
    keyPut: db.prepare(
      'INSERT OR REPLACE INTO idempotency (channel, key, seq, fingerprint, expires) VALUES (?, ?, ?, ?, ?)',
    ),
    keyCount: db.prepare('SELECT count(*) AS n FROM idempotency WHERE channel = ?'),
    keyTrim: db.prepare(
      `DELETE FROM idempotency WHERE channel = ? AND key IN
       (SELECT key FROM idempotency WHERE channel = ? ORDER BY expires LIMIT ?)`,
    ),
    keyExpire: db.prepare('DELETE FROM idempotency WHERE expires <= ?'),
    keyBytes: db.prepare(
      'SELECT count(*) AS n, sum(length(channel) + length(key)) AS chars FROM idempotency',
    ),
    keyOldest: db.prepare(
      `DELETE FROM idempotency WHERE (channel, key) IN
       (SELECT channel, key FROM idempotency ORDER BY expires LIMIT ?)`,
    ),
    readOne: db.prepare(
      'SELECT seq, channel, event, data, time FROM messages WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?',
    ),
    // Oldest first over all channels, with what each row is estimated to take (data, names, row).
    oldest: db.prepare(
      `SELECT seq, channel, coalesce(octet_length(data), 0) + octet_length(channel) + octet_length(event) + 64 AS n
       FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`,
    ),
    nthNewest: db.prepare(
      'SELECT seq FROM messages WHERE channel = $c AND seq > $f ORDER BY seq DESC LIMIT 1 OFFSET $k',
    ),
  };
}

/** A non-negative integer option, or its default. */
function count(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new TypeError(`sqlite store option ${name} must be a non-negative integer, got ${String(value)}`);
  return value;
}

function toMessage(row: MessageRow): StoredMessage {
  const { seq, channel, event, data, time } = row;
  return data === null
    ? { seq, channel, event, data: undefined, time }
    : { seq, channel, event, data: JSON.parse(data), time, json: data };
}

/** Rows of a statement's iterator as messages, parsed one at a time as they are taken. */
class RowSource implements Iterable<StoredMessage> {
  readonly #rows: Iterator<MessageRow>;
  /** Every row was taken. */
  done = false;

  constructor(rows: Iterator<MessageRow>) {
    this.#rows = rows;
  }

  *[Symbol.iterator](): Generator<StoredMessage> {
    for (;;) {
      const r = this.#rows.next();
      if (r.done === true) {
        this.done = true;
        return;
      }
      yield toMessage(r.value);
    }
  }

  /** Releases the statement (it stays busy while an iterator is open). */
  close(): void {
    this.#rows.return?.();
  }
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
