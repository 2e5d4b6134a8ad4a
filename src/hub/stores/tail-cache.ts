import type { StoreCacheStats, StoredMessage } from './store.js';

/**
 * One channel's newest messages, ascending. Invariant: every live message of the channel with
 * `seq > from` is in `msgs`, and `from` is at or above the channel's floor, so a read after a
 * cursor at or past `from` is answered here without a gap.
 */
interface Tail {
  from: number;
  msgs: StoredMessage[];
  /** `msgs` holds every live message of the channel (nothing was evicted from its front). */
  complete: boolean;
  bytes: number;
}

/** What a cached message is assumed to cost besides its JSON text (object, parsed data, slot). */
const OVERHEAD = 160;
/** What a tail costs with no message (map entry, tail object, array, the key): bounds empty tails too. */
function tailCost(channel: string): number {
  return 200 + 2 * channel.length;
}

/** One tail holds at most 1/TAIL_SHARE of `maxBytes`: one channel of large messages cannot evict the rest. */
const TAIL_SHARE = 16;

function cost(m: StoredMessage): number {
  // The parsed `data` is as large as its JSON text again for strings, up to about twice for many
  // small objects (measured with V8 heap statistics): three times the text, in all.
  return OVERHEAD + 3 * (m.json?.length ?? 0);
}

/**
 * The newest messages of recently read channels, kept in memory by a store whose reads are
 * expensive (SQLite: 9–17 µs of CPU for a one-row resume read on the bench machine, against
 * 0.2 µs from memory; scripts/store-bench.mjs). Resume reads are the hot read path (every
 * long-poll round trip, every reconnecting stream) and nearly always ask for the last few messages
 * of a channel.
 *
 * A channel gets a tail from the result of a read of the store that reached its newest message
 * (`fill`: no extra query), then follows its appends, trims and drops; the store applies each only
 * after its transaction committed. Bounded three ways, by estimated bytes: at most `perChannel`
 * messages per channel, at most 1/16 of `maxBytes` per channel (a channel of large messages keeps
 * fewer, and cannot push every other channel out), and `maxBytes` in all, least recently read
 * channels evicted first.
 */
export class TailCache {
  readonly #perChannel: number;
  readonly #maxBytes: number;
  readonly #maxTailBytes: number;
  /** In least recently read order (a Map keeps insertion order: a read re-inserts). */
  readonly #tails = new Map<string, Tail>();
  #bytes = 0;
  /** Reads answered here, and reads that went to the store (the tail did not reach back far enough). */
  #hits = 0;
  #misses = 0;

  constructor(perChannel: number, maxBytes: number) {
    this.#perChannel = perChannel;
    this.#maxBytes = maxBytes;
    this.#maxTailBytes = Math.floor(maxBytes / TAIL_SHARE);
    this.enabled = perChannel > 0 && maxBytes > 0;
  }

  /** Off with `perChannel` or `maxBytes` 0: every read goes to the store, and nothing is counted. */
  readonly enabled: boolean;

  /**
   * Up to `max` live messages of `channel` with seq > `after`, oldest first, or undefined when
   * the tail cannot answer (no tail, or the cursor is older than what it holds).
   */
  read(channel: string, after: number, max: number): StoredMessage[] | undefined {
    if (!this.enabled) return undefined;
    const tail = this.#touch(channel);
    if (tail === undefined || after < tail.from) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    const msgs = tail.msgs;
    let i = msgs.length;
    while (i > 0 && msgs[i - 1]!.seq > after) i--; // resumes ask for the last few: scan from the end
    return msgs.slice(i, i + max);
  }

  /** The newest `n` live messages of `channel`, oldest first, or undefined when not all held. */
  last(channel: string, n: number): StoredMessage[] | undefined {
    if (!this.enabled) return undefined;
    const tail = this.#touch(channel);
    if (tail === undefined || (tail.msgs.length < n && !tail.complete)) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    return tail.msgs.slice(Math.max(0, tail.msgs.length - n));
  }

  /**
   * Gives `channel` a tail from what a read of the store just returned: `msgs` (oldest first) are
   * every live message of the channel with seq > `from`; `complete` when that is every live message
   * it has. Only the newest `perChannel` are kept. Replaces the channel's tail, if any.
   */
  fill(channel: string, from: number, msgs: StoredMessage[], complete: boolean): void {
    if (!this.enabled) return;
    this.delete(channel);
    // A copy (the caller returns its array to its own caller), cut to size by #shrink.
    let bytes = tailCost(channel);
    for (const m of msgs) bytes += cost(m);
    const tail: Tail = { from, msgs: msgs.slice(), complete, bytes };
    this.#tails.set(channel, tail);
    this.#bytes += bytes;
    this.#shrink(tail);
    this.#fit();
  }

  /** A committed append (in seq order). Channels without a tail are not followed. */
  append(m: StoredMessage): void {
    const tail = this.#tails.get(m.channel);
    if (tail === undefined) return;
    const newest = tail.msgs[tail.msgs.length - 1];
    if (newest !== undefined && m.seq <= newest.seq) return; // already held (appends come in seq order)
    tail.msgs.push(m);
    const c = cost(m);
    tail.bytes += c;
    this.#bytes += c;
    this.#shrink(tail);
    this.#fit();
  }

  /** A committed trim: the channel's floor rose to `floor` (every message at or below is gone). */
  trim(channel: string, floor: number): void {
    const tail = this.#tails.get(channel);
    if (tail === undefined) return;
    let k = 0;
    while (k < tail.msgs.length && tail.msgs[k]!.seq <= floor) k++;
    this.#dropOldest(tail, k);
    if (floor > tail.from) tail.from = floor;
  }

  delete(channel: string): void {
    const tail = this.#tails.get(channel);
    if (tail === undefined) return;
    this.#tails.delete(channel);
    this.#bytes -= tail.bytes;
  }

  clear(): void {
    this.#tails.clear();
    this.#bytes = 0;
  }

  /** Reads answered and not, channels held and their estimated bytes. */
  get stats(): StoreCacheStats {
    return { hits: this.#hits, misses: this.#misses, channels: this.#tails.size, bytes: this.#bytes };
  }

  /** Drops a tail's oldest messages while it holds more than `perChannel` or its share of bytes. */
  #shrink(tail: Tail): void {
    const msgs = tail.msgs;
    let k = 0;
    let bytes = tail.bytes;
    while (k < msgs.length && (msgs.length - k > this.#perChannel || bytes > this.#maxTailBytes))
      bytes -= cost(msgs[k++]!);
    if (k === 0) return;
    tail.from = msgs[k - 1]!.seq; // everything after the newest dropped is still held
    tail.complete = false;
    this.#dropOldest(tail, k);
  }

  /** Removes a tail's `k` oldest messages and their bytes. */
  #dropOldest(tail: Tail, k: number): void {
    if (k === 0) return;
    let c = 0;
    for (let i = 0; i < k; i++) c += cost(tail.msgs[i]!);
    tail.bytes -= c;
    this.#bytes -= c;
    tail.msgs.splice(0, k);
  }

  #touch(channel: string): Tail | undefined {
    const tail = this.#tails.get(channel);
    if (tail !== undefined) {
      this.#tails.delete(channel);
      this.#tails.set(channel, tail);
    }
    return tail;
  }

  /** Evicts least recently read channels until within `maxBytes`. */
  #fit(): void {
    if (this.#bytes <= this.#maxBytes) return;
    for (const [channel, tail] of this.#tails) {
      this.#tails.delete(channel);
      this.#bytes -= tail.bytes;
      if (this.#bytes <= this.#maxBytes) return;
    }
  }
}
