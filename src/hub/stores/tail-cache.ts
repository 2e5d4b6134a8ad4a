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
/** What a tail costs with no message (map entry, tail object, array): bounds empty tails too. */
const TAIL_OVERHEAD = 200;

function cost(m: StoredMessage): number {
  // The parsed `data` is about as large as its JSON text again.
  return OVERHEAD + 2 * (m.json?.length ?? 0);
}

/**
 * The newest messages of recently read channels, kept in memory by a store whose reads are
 * expensive (SQLite: about 18 µs for a one-row resume read on the bench machine, against 0.2 µs
 * from memory). Resume reads are the hot read path (every long-poll round trip, every reconnecting
 * stream) and nearly always ask for the last few messages of a channel.
 *
 * A channel gets a tail from the result of a read of the store that reached its newest message
 * (`fill`: no extra query), then follows its appends, trims and drops; the store applies each only
 * after its transaction committed. Bounded twice: at most
 * `perChannel` messages per channel, and `maxBytes` in all (estimated), least recently read
 * channels evicted first.
 */
export class TailCache {
  readonly #perChannel: number;
  readonly #maxBytes: number;
  /** In least recently read order (a Map keeps insertion order: a read re-inserts). */
  readonly #tails = new Map<string, Tail>();
  #bytes = 0;
  /** Reads answered here, and reads that went to the store (the tail did not reach back far enough). */
  hits = 0;
  misses = 0;

  constructor(perChannel: number, maxBytes: number) {
    this.#perChannel = perChannel;
    this.#maxBytes = maxBytes;
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
      this.misses++;
      return undefined;
    }
    this.hits++;
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
      this.misses++;
      return undefined;
    }
    this.hits++;
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
    const excess = msgs.length - this.#perChannel;
    if (excess > 0) {
      from = msgs[excess - 1]!.seq;
      msgs = msgs.slice(excess);
      complete = false;
    } else msgs = msgs.slice(); // the caller returns its array to its own caller
    let bytes = TAIL_OVERHEAD;
    for (const m of msgs) bytes += cost(m);
    this.#tails.set(channel, { from, msgs, complete, bytes });
    this.#bytes += bytes;
    this.#fit();
  }

  /** A committed append (in seq order). Channels without a tail are not followed. */
  append(m: StoredMessage): void {
    const tail = this.#tails.get(m.channel);
    if (tail === undefined) return;
    tail.msgs.push(m);
    const c = cost(m);
    tail.bytes += c;
    this.#bytes += c;
    if (tail.msgs.length > this.#perChannel) {
      const dropped = tail.msgs.shift()!;
      tail.from = dropped.seq;
      tail.complete = false;
      tail.bytes -= cost(dropped);
      this.#bytes -= cost(dropped);
    }
    this.#fit();
  }

  /** A committed trim: the channel's floor rose to `floor` (every message at or below is gone). */
  trim(channel: string, floor: number): void {
    const tail = this.#tails.get(channel);
    if (tail === undefined) return;
    let k = 0;
    while (k < tail.msgs.length && tail.msgs[k]!.seq <= floor) {
      const c = cost(tail.msgs[k]!);
      tail.bytes -= c;
      this.#bytes -= c;
      k++;
    }
    if (k > 0) tail.msgs.splice(0, k);
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
    return { hits: this.hits, misses: this.misses, channels: this.#tails.size, bytes: this.#bytes };
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
