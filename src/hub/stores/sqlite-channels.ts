import type { GapReason } from './store.js';

/** One channel's counters, as the SQLite store keeps them in memory (a `channels` row). */
export interface ChannelState {
  /** Seq of the channel's newest message ever published; 0 when none. */
  lastSeq: number;
  /** Highest seq removed from the channel (rows at or below it are dead); 0 when none. */
  floor: number;
  reason: GapReason;
  /** Messages retained (live rows). */
  stored: number;
}

/**
 * The SQLite store's `channels` rows, held in memory and written back lazily.
 *
 * Why: writing a channel's row on every append (newest seq, count, floor after a trim) dirtied one
 * more page per commit and cost a statement per append, about an eighth of a publish's CPU
 * (bench: 61 -> 53 µs per publish on 4 keep-alive connections). Here an append changes the state in
 * memory; the rows are written back (with the seq they are exact up to, `meta.through`) in the
 * transactions that need the file to be right: a purge of dead rows (whose bound is the floor in the
 * file), a drop, an age sweep, close. After a crash, the store recounts the channels that have
 * messages above `through` (sqlite.ts, open()).
 *
 * Memory is bounded: clean states beyond `cap` are forgotten (first loaded or cleaned first) and read
 * from the file again when needed; changed ones are kept until written back (at least once a second
 * in a hub) and that transaction committed.
 *
 * Every change inside a transaction goes through {@link change}, which logs the state's previous
 * value, so a failed transaction can be undone in memory as it is in the file.
 */
export class ChannelStates {
  readonly #map = new Map<string, ChannelState>();
  /** Held states that match the file, first loaded (or cleaned) first: the only ones evicted. */
  readonly #clean = new Set<string>();
  /** Held states changed since they were last written back. */
  readonly #dirty = new Set<string>();
  /**
   * Channels written back by the running transaction: neither clean (it may roll back, and then
   * they are changed again) nor evictable until it ends.
   */
  readonly #written = new Set<string>();
  /**
   * The running transaction's undo log, flat: channel, state (undefined: created by it), lastSeq,
   * floor, reason, stored, channel, ... (no object per change on the append path).
   */
  #undo: Array<string | number | ChannelState | undefined> = [];
  readonly #cap: number;
  readonly #load: (channel: string) => ChannelState | undefined;

  /** `load` reads a channel's row from the file (undefined: no row). */
  constructor(cap: number, load: (channel: string) => ChannelState | undefined) {
    this.#cap = cap;
    this.#load = load;
  }

  /** A channel's state, from memory or the file; undefined when the channel never had a message. */
  get(channel: string): ChannelState | undefined {
    let s = this.#map.get(channel);
    if (s === undefined) {
      s = this.#load(channel);
      if (s !== undefined) {
        // Room is made before the insert: the state returned must stay held (change() may be about
        // to change it).
        this.#evict(this.#cap - 1);
        this.#map.set(channel, s);
        this.#clean.add(channel);
      }
    }
    return s;
  }

  /** The state to change inside the running transaction (created when new): logged, marked dirty. */
  change(channel: string): ChannelState {
    let s = this.get(channel);
    if (s === undefined) {
      s = { lastSeq: 0, floor: 0, reason: 'trimmed', stored: 0 };
      this.#map.set(channel, s);
      this.#undo.push(channel, undefined, 0, 0, 'trimmed', 0);
    } else {
      this.#undo.push(channel, s, s.lastSeq, s.floor, s.reason, s.stored);
      this.#clean.delete(channel);
    }
    this.#dirty.add(channel);
    return s;
  }

  /** Hands every dirty state to `write` (inside a transaction); they are clean once it commits. */
  writeBack(write: (channel: string, state: ChannelState) => void): boolean {
    if (this.#dirty.size === 0) return false;
    for (const channel of this.#dirty) {
      const s = this.#map.get(channel);
      if (s !== undefined) write(channel, s);
      this.#written.add(channel);
    }
    this.#dirty.clear();
    return true;
  }

  /** The running transaction committed: what it wrote back is clean; the cache is trimmed to its bound. */
  committed(): void {
    this.#undo.length = 0;
    if (this.#written.size === 0) return;
    for (const channel of this.#written)
      if (this.#map.has(channel) && !this.#dirty.has(channel)) this.#clean.add(channel);
    this.#written.clear();
    this.#evict(this.#cap);
  }

  /** The running transaction rolled back: every state as it was before it, and changed again. */
  rolledBack(): void {
    const u = this.#undo;
    for (let i = u.length - 6; i >= 0; i -= 6) {
      const channel = u[i] as string;
      const s = u[i + 1] as ChannelState | undefined;
      if (s === undefined) {
        this.#map.delete(channel);
        this.#dirty.delete(channel);
        this.#written.delete(channel);
        continue;
      }
      s.lastSeq = u[i + 2] as number;
      s.floor = u[i + 3] as number;
      s.reason = u[i + 4] as GapReason;
      s.stored = u[i + 5] as number;
    }
    u.length = 0;
    // The file's rows went back too: what the transaction wrote back is unwritten again.
    for (const channel of this.#written) this.#dirty.add(channel);
    this.#written.clear();
  }

  /** Forgets clean states, first loaded or cleaned first, down to `bound`: O(states forgotten). */
  #evict(bound: number): void {
    for (const channel of this.#clean) {
      if (this.#map.size <= bound) return;
      this.#clean.delete(channel);
      this.#map.delete(channel);
    }
  }

  /** States held in memory (for tests and stats). */
  get size(): number {
    return this.#map.size;
  }

  clear(): void {
    this.#map.clear();
    this.#clean.clear();
    this.#dirty.clear();
    this.#written.clear();
    this.#undo.length = 0;
  }
}
