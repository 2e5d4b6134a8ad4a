import { compilePattern } from '../../protocol/channel.js';
import { newEpoch } from '../../protocol/cursor.js';
import type {
  ActiveChannels,
  ChannelGap,
  ChannelInfo,
  GapReason,
  IdempotencyKey,
  LastResult,
  OnceResult,
  ReadResult,
  Store,
  StoreContext,
  StoredMessage,
  StoreEvent,
} from './store.js';

/** One channel's retained history: `msgs[start..]` is live; the front is compacted lazily. */
interface ChannelLog {
  msgs: StoredMessage[];
  start: number;
  /** Highest seq removed from this channel (by retention or deletion); 0 when none. */
  floor: number;
  floorReason: GapReason;
  lastSeq: number;
}

/**
 * History in process memory. Fast, bounded by retention, and lost on restart: a restarted hub
 * has a new epoch, so old cursors get a `gap` (reason `epoch`), never silence.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  epoch = '';
  #seq = 0;
  readonly #logs = new Map<string, ChannelLog>();
  #listener: (event: StoreEvent) => void = () => {};
  readonly #ctx: StoreContext;
  /** Idempotency keys per channel, in insertion (= expiry) order: key -> seq, fingerprint, expiry. */
  readonly #keys = new Map<string, Map<string, KeyEntry>>();

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
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
    const message: StoredMessage = { seq: ++this.#seq, channel, event, data, time };
    const log = this.#log(channel);
    log.msgs.push(message);
    log.lastSeq = message.seq;
    const { maxMessages } = this.#ctx.retentionFor(channel);
    const excess = log.msgs.length - log.start - maxMessages;
    if (excess > 0) this.#trim(log, log.start + excess, 'trimmed');
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
    if (keys === undefined) {
      keys = new Map();
      this.#keys.set(channel, keys);
    }
    keys.delete(k.key); // an expired entry moves to the end, with the new expiry
    keys.set(k.key, { seq, fingerprint: k.fingerprint, expires: time + k.windowMs });
    for (const old of keys.keys()) {
      if (keys.size <= k.maxKeys) break;
      keys.delete(old);
    }
    return { seq, duplicate: false, mismatch: false };
  }

  async read(channels: readonly string[], after: number, limit: number): Promise<ReadResult> {
    const gaps: ChannelGap[] = [];
    let messages: StoredMessage[] = [];
    for (const channel of channels) {
      const log = this.#logs.get(channel);
      if (!log) continue;
      if (after < log.floor) gaps.push({ channel, reason: log.floorReason });
      const from = firstAfter(log.msgs, log.start, after);
      // Each channel contributes at most limit + 1 (the +1 tells whether there is more).
      const end = Math.min(log.msgs.length, from + limit + 1);
      for (let i = from; i < end; i++) messages.push(log.msgs[i]!);
    }
    if (channels.length > 1) messages.sort(bySeq);
    const more = messages.length > limit;
    if (more) messages = messages.slice(0, limit);
    return { messages, gaps, more, head: this.#seq };
  }

  /** Looks at every channel's newest seq: the memory store holds them all in this process anyway. */
  async activeChannels(patterns: readonly string[], after: number, max: number): Promise<ActiveChannels> {
    const matchers = patterns.map(compilePattern);
    const found: Array<[string, number]> = [];
    for (const [channel, log] of this.#logs)
      if (log.lastSeq > after && matchers.some((m) => m(channel))) found.push([channel, log.lastSeq]);
    found.sort((a, b) => b[1] - a[1]);
    return { channels: found.slice(0, max).map((f) => f[0]), overflow: found.length > max };
  }

  async last(channels: readonly string[], n: number): Promise<LastResult> {
    const messages: StoredMessage[] = [];
    for (const channel of channels) {
      const log = this.#logs.get(channel);
      if (!log) continue;
      for (let i = Math.max(log.start, log.msgs.length - n); i < log.msgs.length; i++)
        messages.push(log.msgs[i]!);
    }
    if (channels.length > 1) messages.sort(bySeq);
    return { messages, head: this.#seq };
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
    // Expired idempotency keys (each channel's map is in expiry order).
    for (const [channel, keys] of this.#keys) {
      for (const [key, entry] of keys) {
        if (entry.expires > now) break;
        keys.delete(key);
      }
      if (keys.size === 0) this.#keys.delete(channel);
    }
  }

  async close(): Promise<void> {
    this.#logs.clear();
    this.#keys.clear();
  }

  #log(channel: string): ChannelLog {
    let log = this.#logs.get(channel);
    if (!log) {
      log = { msgs: [], start: 0, floor: 0, floorReason: 'trimmed', lastSeq: 0 };
      this.#logs.set(channel, log);
    }
    return log;
  }

  /** Drops `msgs[start..to)`, raising the channel's floor so resumes from before it see a gap. */
  #trim(log: ChannelLog, to: number, reason: GapReason): void {
    if (to <= log.start) return;
    log.floor = log.msgs[to - 1]!.seq;
    log.floorReason = reason;
    log.start = to;
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
}

function bySeq(a: StoredMessage, b: StoredMessage): number {
  return a.seq - b.seq;
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
