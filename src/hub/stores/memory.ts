import { newEpoch } from '../../protocol/cursor.js';
import { ActiveCollector, channelHead, planActive } from './active-index.js';
import { RecencyList, type RecencyNode, recencyNode } from './recency-list.js';
import {
  type ActiveChannels,
  type ChannelGap,
  type ChannelInfo,
  channelPage,
  type GapReason,
  type IdempotencyKey,
  type LastResult,
  mergePage,
  messageBytes,
  type OnceResult,
  type ReadResult,
  type Store,
  type StoreContext,
  type StoredMessage,
  type StoreEvent,
} from './store.js';

export interface MemoryStoreOptions {
  /**
   * Bound on the memory the retained messages take (estimated: see {@link retainedBytes}), over
   * all channels; past it the oldest messages are dropped first, whatever their channel, and a
   * resume from before them gets a `gap` (reason `trimmed`). 0: no bound (retention only).
   * @default 268435456 (256 MiB)
   */
  maxBytes?: number;
}

/** @see MemoryStoreOptions.maxBytes */
export const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024;

/**
 * What a retained message is counted as against {@link MemoryStoreOptions.maxBytes}: its JSON text
 * (kept to answer without serializing again), the parsed data beside it (as large again for
 * strings), and the message object.
 */
export function retainedBytes(m: StoredMessage): number {
  return messageBytes(m) + (m.json?.length ?? 0);
}

/**
 * What a channel's own record is counted as: its log, map entry and name (~345 bytes measured),
 * and its two places in the recency lists (a node is ~48 bytes: 200,000 of them measured with
 * process.memoryUsage().heapUsed around their making, after gc).
 */
function logBytes(channel: string): number {
  return 416 + 2 * channel.length;
}

/** One channel's retained history: `msgs[start..]` is live; the front is compacted lazily. */
class ChannelLog {
  readonly channel: string;
  msgs: StoredMessage[] = [];
  start = 0;
  /** Highest seq removed from this channel (by retention or deletion); 0 when none. */
  floor: number;
  floorReason: GapReason = 'trimmed';
  lastSeq = 0;
  /** Its place among all channels by newest seq (wildcard resumes of patterns with no head). */
  readonly inAll: RecencyNode<ChannelLog> = recencyNode<ChannelLog>(this);
  /** Its place among the channels under its head by newest seq (see active-index.ts). */
  readonly inHead: RecencyNode<ChannelLog> = recencyNode<ChannelLog>(this);

  constructor(channel: string, floor: number) {
    this.channel = channel;
    this.floor = floor;
  }
}

/**
 * History in process memory. Fast, bounded by retention and by bytes in all (oldest dropped
 * first), and lost on restart: a restarted hub has a new epoch, so old cursors get a `gap` (reason
 * `epoch`), never silence.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  epoch = '';
  #seq = 0;
  readonly #logs = new Map<string, ChannelLog>();
  /** Every channel by newest seq, and per head: what a wildcard resume walks, newest first. */
  readonly #recent = new RecencyList<ChannelLog>();
  readonly #recentByHead = new Map<string, RecencyList<ChannelLog>>();
  #listener: (event: StoreEvent) => void = () => {};
  readonly #ctx: StoreContext;
  readonly #maxBytes: number;
  /** Estimated bytes of every retained message (see retainedBytes). */
  #bytes = 0;
  /**
   * The seq and channel of every message appended, in seq order (`[#orderStart..]`), for dropping
   * the oldest across channels when over `maxBytes`. Not the messages themselves: an entry whose
   * message was trimmed from its channel is dead, and must not keep the message alive until it
   * is reached (skipped then) or compacted away (once dead entries are most of the arrays).
   */
  #orderSeq: number[] = [];
  #orderChannel: string[] = [];
  #orderStart = 0;
  #orderDead = 0;
  /** Channels whose log retains no message (oldest emptied first): forgotten first under the bound. */
  readonly #empty = new Set<string>();
  /**
   * The newest seq of every channel forgotten under the byte bound (0: none). A channel this store
   * does not know may be one of them, so a resume from before it gets a `trimmed` gap there.
   */
  #forgotten = 0;
  /** Idempotency keys per channel, in insertion (= expiry) order: key -> seq, fingerprint, expiry. */
  readonly #keys = new Map<string, Map<string, KeyEntry>>();
  /**
   * Every key entry, oldest first (one window for all: also expiry order). Keys are counted in
   * #bytes and take at most a quarter of `maxBytes` (the oldest forgotten first): a key outlives
   * its message, and tiny publishes with long keys would otherwise hold memory past the bound.
   */
  readonly #keyOrder = new Set<KeyEntry>();
  #keyBytes = 0;

  constructor(ctx: StoreContext, options: MemoryStoreOptions = {}) {
    this.#ctx = ctx;
    const max = options.maxBytes ?? DEFAULT_MEMORY_BYTES;
    if (!Number.isSafeInteger(max) || max < 0)
      throw new TypeError(`memory store option maxBytes must be a non-negative integer, got ${String(max)}`);
    this.#maxBytes = max;
  }

  /**
   * Estimated bytes the retained messages, the channels' records and the idempotency keys take
   * (see {@link retainedBytes}).
   */
  get bytes(): number {
    return this.#bytes;
  }

  /** Channels this store keeps a record of (a floor for gaps, messages or not). */
  get channels(): number {
    return this.#logs.size;
  }

  async open(): Promise<void> {
    this.epoch = newEpoch();
  }

  async head(): Promise<number> {
    return this.#seq;
  }

  listen(listener: (event: StoreEvent) => void): void {
    this.#listener = listener;
  }

  async append(channel: string, event: string, data: unknown, time: number): Promise<StoredMessage> {
    return this.appendNow(channel, event, data, time);
  }

  appendNow(channel: string, event: string, data: unknown, time: number): StoredMessage {
    // The JSON text is kept: answers and frames use it, and it is what the byte bound counts.
    const message: StoredMessage =
      data === undefined
        ? { seq: ++this.#seq, channel, event, data, time }
        : { seq: ++this.#seq, channel, event, data, time, json: JSON.stringify(data) };
    const log = this.#log(channel);
    if (log.start === log.msgs.length) this.#empty.delete(channel);
    log.msgs.push(message);
    log.lastSeq = message.seq;
    this.#recent.touch(log.inAll);
    (log.inHead.list ?? this.#headList(channel)).touch(log.inHead);
    if (this.#maxBytes !== 0) {
      this.#orderSeq.push(message.seq);
      this.#orderChannel.push(channel);
    }
    this.#bytes += retainedBytes(message);
    const { maxMessages } = this.#ctx.retentionFor(channel);
    const excess = log.msgs.length - log.start - maxMessages;
    if (excess > 0) this.#trim(log, log.start + excess, 'trimmed');
    if (this.#maxBytes !== 0) {
      if (this.#bytes > this.#maxBytes) this.#evict();
      this.#compactOrder();
    }
    this.#listener({ type: 'message', message });
    return message;
  }

  async appendOnce(
    channel: string,
    event: string,
    data: unknown,
    time: number,
    k: IdempotencyKey,
  ): Promise<OnceResult> {
    let keys = this.#keys.get(channel);
    const hit = keys?.get(k.key);
    if (hit !== undefined && hit.expires > time)
      return { seq: hit.seq, duplicate: true, mismatch: hit.fingerprint !== k.fingerprint };
    const { seq } = this.appendNow(channel, event, data, time);
    // An expired entry goes, and comes back at the end with the new expiry.
    if (keys !== undefined && hit !== undefined) this.#forgetKey(keys, hit);
    keys = this.#keys.get(channel);
    if (keys === undefined) {
      keys = new Map();
      this.#keys.set(channel, keys);
    }
    const entry: KeyEntry = {
      seq,
      fingerprint: k.fingerprint,
      expires: time + k.windowMs,
      channel,
      key: k.key,
      bytes: keyBytes(k),
    };
    keys.set(k.key, entry);
    this.#keyOrder.add(entry);
    this.#keyBytes += entry.bytes;
    this.#bytes += entry.bytes;
    for (const old of keys.values()) {
      if (keys.size <= k.maxKeys) break;
      this.#forgetKey(keys, old);
    }
    if (this.#maxBytes !== 0) {
      for (const old of this.#keyOrder) {
        if (this.#keyBytes <= this.#maxBytes / 4) break;
        const its = this.#keys.get(old.channel);
        if (its !== undefined) this.#forgetKey(its, old);
      }
      if (this.#bytes > this.#maxBytes) this.#evict();
    }
    return { seq, duplicate: false, mismatch: false };
  }

  async read(
    channels: readonly string[],
    after: number,
    limit: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<ReadResult> {
    const gaps: ChannelGap[] = [];
    const messages: StoredMessage[] = [];
    for (const channel of channels) {
      const log = this.#logs.get(channel);
      if (!log) {
        if (after < this.#forgotten) gaps.push({ channel, reason: 'trimmed' });
        continue;
      }
      if (after < log.floor) gaps.push({ channel, reason: log.floorReason });
      for (const m of channelPage(tail(log.msgs, firstAfter(log.msgs, log.start, after)), limit, maxBytes))
        messages.push(m);
    }
    const page = mergePage(messages, channels.length <= 1, limit, maxBytes);
    return { messages: page.messages, gaps, more: page.more, head: this.#seq };
  }

  /**
   * Walks the channels by newest seq, from the newest down to `after`: under each pattern's head,
   * or all of them when a pattern has none (active-index.ts).
   */
  async activeChannels(patterns: readonly string[], after: number, max: number): Promise<ActiveChannels> {
    const plan = planActive(patterns);
    const found = new ActiveCollector(max);
    const walk = (list: RecencyList<ChannelLog> | undefined, matchers: ((c: string) => boolean)[]) => {
      found.scan(matchers);
      for (let n = list?.newest; n !== undefined && n.item.lastSeq > after; n = n.older) {
        if (found.budget === 0) return found.cut();
        if (!found.offer(n.item.channel, n.item.lastSeq)) return;
      }
    };
    if (plan.heads === undefined) walk(this.#recent, plan.matchers);
    else for (const [head, matchers] of plan.heads) walk(this.#recentByHead.get(head), matchers);
    return found.result();
  }

  async last(
    channels: readonly string[],
    n: number,
    limit = Number.MAX_SAFE_INTEGER,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<LastResult> {
    const messages: StoredMessage[] = [];
    for (const channel of channels) {
      const log = this.#logs.get(channel);
      if (!log || n <= 0) continue;
      const from = Math.max(log.start, log.msgs.length - n);
      for (const m of channelPage(tail(log.msgs, from), limit, maxBytes)) messages.push(m);
    }
    const page = mergePage(messages, channels.length <= 1, limit, maxBytes);
    return { messages: page.messages, more: page.more, head: this.#seq };
  }

  async info(channel: string): Promise<ChannelInfo> {
    const log = this.#logs.get(channel);
    return { lastSeq: log?.lastSeq ?? 0, stored: log ? log.msgs.length - log.start : 0 };
  }

  async drop(channel: string): Promise<void> {
    const log = this.#logs.get(channel);
    if (log && log.lastSeq > 0) {
      this.#trim(log, log.msgs.length, 'deleted');
      log.floor = log.lastSeq;
      log.floorReason = 'deleted';
    }
    this.#listener({ type: 'deleted', channel, time: Date.now() });
  }

  sweep(now: number): void {
    for (const [channel, log] of this.#logs) {
      const cutoff = now - this.#ctx.retentionFor(channel).maxAgeMs;
      let i = log.start;
      while (i < log.msgs.length && log.msgs[i]!.time < cutoff) i++;
      if (i > log.start) this.#trim(log, i, 'trimmed');
    }
    if (this.#maxBytes !== 0) this.#compactOrder();
    // Expired idempotency keys (each channel's map is in expiry order).
    for (const entry of this.#keyOrder) {
      if (entry.expires > now) break;
      const keys = this.#keys.get(entry.channel);
      if (keys !== undefined) this.#forgetKey(keys, entry);
    }
  }

  /** Forgets one idempotency key (`keys`: its channel's map). */
  #forgetKey(keys: Map<string, KeyEntry>, entry: KeyEntry): void {
    if (keys.get(entry.key) !== entry) return;
    keys.delete(entry.key);
    if (keys.size === 0) this.#keys.delete(entry.channel);
    this.#keyOrder.delete(entry);
    this.#keyBytes -= entry.bytes;
    this.#bytes -= entry.bytes;
  }

  async close(): Promise<void> {
    this.#logs.clear();
    this.#recent.clear();
    for (const list of this.#recentByHead.values()) list.clear();
    this.#recentByHead.clear();
    this.#keys.clear();
    this.#keyOrder.clear();
    this.#keyBytes = 0;
    this.#orderSeq = [];
    this.#orderChannel = [];
    this.#orderStart = this.#orderDead = this.#bytes = this.#forgotten = 0;
    this.#empty.clear();
  }

  /**
   * Drops the oldest retained messages, across channels, until the retained bytes fit again.
   * Channels that retain nothing are forgotten first (that costs only which gap reason a resume
   * gets there), then as the eviction empties them.
   */
  #evict(): void {
    const seqs = this.#orderSeq;
    while (this.#bytes > this.#maxBytes) {
      const emptied = this.#empty.values().next();
      if (emptied.done !== true) {
        this.#forget(emptied.value);
        continue;
      }
      if (this.#orderStart >= seqs.length) return;
      const i = this.#orderStart++;
      this.#orderDead--; // counted again by #trim if it was live
      const seq = seqs[i]!;
      const log = this.#logs.get(this.#orderChannel[i]!);
      if (log === undefined || seq <= log.floor) continue; // already trimmed
      // Oldest first over all channels: it is the oldest live message of its channel too.
      this.#trim(log, firstAfter(log.msgs, log.start, seq), 'trimmed');
    }
  }

  /** Forgets a channel that retains no message: its log goes, its newest seq joins #forgotten. */
  #forget(channel: string): void {
    this.#empty.delete(channel);
    const log = this.#logs.get(channel);
    if (log === undefined) return;
    this.#logs.delete(channel);
    this.#recent.remove(log.inAll);
    const under = log.inHead.list;
    under?.remove(log.inHead);
    if (under?.size === 0) this.#recentByHead.delete(channelHead(channel));
    this.#bytes -= logBytes(channel);
    if (log.lastSeq > this.#forgotten) this.#forgotten = log.lastSeq;
  }

  /** Forgets the dead entries of #order once they are most of it (O(1) amortized per message). */
  #compactOrder(): void {
    const seqs = this.#orderSeq;
    const waste = this.#orderStart + this.#orderDead;
    if (waste < 1024 || waste < seqs.length - waste) return;
    const keptSeq: number[] = [];
    const keptChannel: string[] = [];
    for (let i = this.#orderStart; i < seqs.length; i++) {
      const channel = this.#orderChannel[i]!;
      const log = this.#logs.get(channel);
      if (log !== undefined && seqs[i]! > log.floor) {
        keptSeq.push(seqs[i]!);
        keptChannel.push(channel);
      }
    }
    this.#orderSeq = keptSeq;
    this.#orderChannel = keptChannel;
    this.#orderStart = 0;
    this.#orderDead = 0;
  }

  #log(channel: string): ChannelLog {
    let log = this.#logs.get(channel);
    if (!log) {
      // A channel forgotten under the byte bound may come back: resumes from before what was
      // forgotten get a gap here too.
      log = new ChannelLog(channel, this.#forgotten);
      this.#logs.set(channel, log);
      this.#bytes += logBytes(channel);
    }
    return log;
  }

  /** The recency list of the channels under `channel`'s head (made when new). */
  #headList(channel: string): RecencyList<ChannelLog> {
    const head = channelHead(channel);
    let list = this.#recentByHead.get(head);
    if (list === undefined) {
      list = new RecencyList();
      this.#recentByHead.set(head, list);
    }
    return list;
  }

  /** Drops `msgs[start..to)`, raising the channel's floor so resumes from before it see a gap. */
  #trim(log: ChannelLog, to: number, reason: GapReason): void {
    if (to <= log.start) return;
    log.floor = log.msgs[to - 1]!.seq;
    // The dead prefix stays in the array until compacted: it must not keep the messages alive.
    for (let i = log.start; i < to; i++) {
      this.#bytes -= retainedBytes(log.msgs[i]!);
      log.msgs[i] = DEAD;
    }
    if (this.#maxBytes !== 0) this.#orderDead += to - log.start;
    log.floorReason = reason;
    log.start = to;
    if (to === log.msgs.length) this.#empty.add(log.channel);
    // Compact only when the dead prefix dominates, so trimming stays O(1) amortized.
    if (log.start > 64 && log.start * 2 > log.msgs.length) {
      log.msgs = log.msgs.slice(log.start);
      log.start = 0;
    }
  }
}

interface KeyEntry {
  seq: number;
  fingerprint: string;
  expires: number;
  readonly channel: string;
  readonly key: string;
  /** What the entry is counted as against `maxBytes` (keyBytes). */
  readonly bytes: number;
}

/**
 * What an idempotency key is counted as: its strings and the entry with its places in two maps
 * and the order (~560 bytes measured for a 255-character key).
 */
function keyBytes(k: IdempotencyKey): number {
  return k.key.length + k.fingerprint.length + 280;
}

/** What a trimmed slot of a channel's array holds until the array is compacted. */
const DEAD: StoredMessage = Object.freeze({ seq: 0, channel: '', event: '', data: undefined, time: 0 });

/** `msgs[from..]`, iterated without a copy. */
function* tail(msgs: readonly StoredMessage[], from: number): Generator<StoredMessage> {
  for (let i = from; i < msgs.length; i++) yield msgs[i]!;
}

/** Index of the first message in msgs[start..] with seq > after (binary search; seqs increase). */
function firstAfter(msgs: StoredMessage[], start: number, after: number): number {
  let lo = start;
  let hi = msgs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (msgs[mid]!.seq <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
