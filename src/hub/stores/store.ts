/**
 * The storage/broker backplane behind the hub. A store keeps each channel's history and is the
 * single source of message order: it assigns every published message the next global sequence
 * number (`seq`) and then hands it to every listener, in seq order, on every hub that shares it.
 * Transports never talk to a store directly; the hub core does (see hub.ts).
 *
 * Implementations: memory.ts (one process, history lost on restart), sqlite.ts (durable, one
 * process), redis.ts (durable per Redis config, any number of hub processes).
 */
/**
 * A stored message. Read-only: stores hand the same object to every reader and keep it (the memory
 * store, SQLite's tail cache), so nothing may change it; `data` is the publisher's value as given.
 */
export interface StoredMessage {
  /** Global sequence number, > 0, increasing by one per message across all channels of the store. */
  readonly seq: number;
  readonly channel: string;
  readonly event: string;
  /** Any JSON value. */
  readonly data: unknown;
  /** Publish time, ms since epoch. */
  readonly time: number;
  /**
   * `data` as JSON text, when the store has it already (it stored it that way): the hub builds the
   * envelope around it instead of serializing the data again. Absent when `data` is undefined.
   */
  readonly json?: string;
}

/** Why a channel's history no longer reaches back to a cursor. */
export type GapReason = 'trimmed' | 'epoch' | 'deleted';

export interface ChannelGap {
  channel: string;
  reason: GapReason;
}

export interface ReadResult {
  /** Messages with seq > `after` on the channels asked, in seq order, at most `limit`. */
  messages: StoredMessage[];
  /** Channels whose retained history starts after `after` although messages were published there. */
  gaps: ChannelGap[];
  /** True when more messages exist after the last one returned (the limit was hit). */
  more: boolean;
  /** The store's head seq at the time of the read (consistent with `messages`). */
  head: number;
}

export interface LastResult {
  /**
   * Up to `n` newest retained messages of each channel, merged in seq order; at most `limit` and
   * `maxBytes` of them in all (the oldest first: the rest follow by a read after the last one).
   */
  messages: StoredMessage[];
  /** True when the page was cut by `limit` or `maxBytes` (absent: false). */
  more?: boolean;
  /** The store's head seq at the time of the read. */
  head: number;
}

export interface ChannelInfo {
  /** Seq of the channel's newest message ever published (0 when none), retained or not. */
  lastSeq: number;
  /** Number of messages currently retained. */
  stored: number;
}

/**
 * An idempotency key as a store keeps it (Store.appendOnce): the hub has scoped it by credential
 * already; the store scopes it by channel.
 */
export interface IdempotencyKey {
  /** The scoped key (opaque to the store). */
  readonly key: string;
  /** What was published under it (event and data), to tell a retry from a reuse of the key. */
  readonly fingerprint: string;
  /** How long the key is remembered after its publish, in ms. */
  readonly windowMs: number;
  /** Keys remembered per channel at most; the oldest is forgotten first. */
  readonly maxKeys: number;
}

/** What Store.appendOnce did. */
export interface OnceResult {
  /** The seq of the message stored under the key: this publish's, or the first one's. */
  readonly seq: number;
  /** True when the key was known: nothing was stored this time. */
  readonly duplicate: boolean;
  /** With `duplicate`: the first publish under the key had another event or data. */
  readonly mismatch: boolean;
}

/** See Store.activeChannels. */
export interface ActiveChannels {
  channels: string[];
  overflow: boolean;
}

/** What a store tells its listeners, in order. */
export type StoreEvent =
  | { type: 'message'; message: StoredMessage }
  | { type: 'deleted'; channel: string; time: number }
  /** The store's history was lost and restarted under a new epoch (e.g. Redis restarted empty). */
  | { type: 'epoch'; epoch: string }
  /** The store became unreachable (`up: false`) or reachable again (`up: true`). */
  | { type: 'status'; up: boolean }
  /** A member joined or left a channel on some hub sharing the store (Redis presence). */
  | {
      type: 'presence';
      channel: string;
      event: 'join' | 'leave';
      member: import('../presence.js').PresenceMember;
      time: number;
    };

/** Retention of one channel. */
export interface Retention {
  /** Keep at most this many messages. */
  maxMessages: number;
  /** Drop messages older than this many milliseconds. */
  maxAgeMs: number;
}

/** What a store is constructed with. */
export interface StoreContext {
  /** Retention for a channel (resolved from the hub's per-pattern rules). */
  retentionFor(channel: string): Retention;
}

/** See {@link Store.cacheStats}. */
export interface StoreCacheStats {
  hits: number;
  misses: number;
  channels: number;
  bytes: number;
}

export interface Store {
  /** `memory`, `sqlite` or `redis`. */
  readonly kind: string;
  /**
   * Counters of a read cache, for stores that keep one (SQLite's tail cache): reads answered from
   * memory and not, channels held, estimated bytes. Exported as `cometa_store_cache_*` metrics.
   */
  readonly cacheStats?: StoreCacheStats;
  /** Current epoch (valid after `open()`); changes only if the store loses its history. */
  readonly epoch: string;
  /**
   * Set by `open()` when the store found it had lost acknowledged history and went on under a new
   * epoch (SQLite: a file restored without its WAL); the hub logs it.
   */
  readonly lostHistory?: string | undefined;
  /** Connects/creates; sets `epoch`. */
  open(): Promise<void>;
  /** The newest seq assigned (0 when nothing was ever published in this epoch). */
  head(): Promise<number>;
  /**
   * Stores a message, assigning the next seq. Resolves once the message is durable (as durable
   * as the store is); listeners have been or will be called with it, in seq order.
   * Rejects with `StoreUnavailableError` when the backend cannot be reached.
   */
  append(channel: string, event: string, data: unknown, time: number): Promise<StoredMessage>;
  /**
   * {@link append} without the promise, for a store that keeps its messages in process memory: the
   * message is stored (and its listeners called) when this returns. The hub's publish fast lane
   * answers from it in the same turn, with no promise per publish.
   */
  appendNow?(channel: string, event: string, data: unknown, time: number): StoredMessage;
  /**
   * {@link append} unless a message was stored under `key` on this channel within its window: then
   * nothing is stored and the first message's seq is answered. The key is stored with the message
   * (as durable as it is: SQLite keeps it across a restart, Redis across hubs). Stores without it
   * refuse idempotent publishes (501).
   */
  appendOnce?(
    channel: string,
    event: string,
    data: unknown,
    time: number,
    key: IdempotencyKey,
  ): Promise<OnceResult>;
  /**
   * The channels matching any of `patterns` (wildcards: `scores.*`, `quotes.**`) whose newest
   * message is after `after`, newest first, at most `max` (`overflow` when more match). A resume
   * of a wildcard subscription reads these channels' history: the candidates come from an index of
   * channels by their newest seq, kept per first segment too (active-index.ts), so channels quiet
   * since the cursor are never looked at, nor, for a pattern whose first segment is literal, the
   * channels under other ones; at most ACTIVE_SCAN_BUDGET entries in all (more: `overflow`).
   * Stores without it resume wildcard subscriptions with a gap.
   */
  activeChannels?(patterns: readonly string[], after: number, max: number): Promise<ActiveChannels>;
  /**
   * Presence shared by every hub on this store (Redis), announcing joins and leaves as `presence`
   * events in order with messages. Stores without it keep presence per process.
   */
  presenceBackend?(options: { ttlMs: number; maxMembers: number }): import('../presence.js').PresenceBackend;
  /**
   * Messages after `after` on `channels`, at most `limit` and `maxBytes` (see {@link messageBytes};
   * the first message is returned whatever its size); see ReadResult. A store reads no more than
   * that page (and one message per channel to know whether there is more).
   */
  read(channels: readonly string[], after: number, limit: number, maxBytes?: number): Promise<ReadResult>;
  /** The newest `n` messages of each channel, cut to `limit` and `maxBytes` in all; see LastResult. */
  last(channels: readonly string[], n: number, limit?: number, maxBytes?: number): Promise<LastResult>;
  info(channel: string): Promise<ChannelInfo>;
  /** Deletes a channel's history; later resumes from before it get a `deleted` gap. Emits `deleted`. */
  drop(channel: string): Promise<void>;
  /** Registers the listener that receives every StoreEvent (the hub registers exactly one). */
  listen(listener: (event: StoreEvent) => void): void;
  /** Enforces age retention; the hub calls it periodically (stores may also trim on their own). */
  sweep(now: number): Promise<void> | void;
  close(): Promise<void>;
}

/** Thrown by stores when the backend cannot be reached; the hub answers 503 ERR_STORE_UNAVAILABLE. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/**
 * What a message is counted as in byte bounds (answers, replay pages, retained bytes): its JSON
 * data in characters (bytes for ASCII text), plus its names and what an envelope adds around them.
 */
export function messageBytes(m: StoredMessage): number {
  return (m.json?.length ?? 0) + m.channel.length + m.event.length + ENVELOPE_BYTES;
}

/** The envelope's own characters (`id`, `time`, keys, quotes) and a transport's framing, rounded up. */
export const ENVELOPE_BYTES = 100;

/**
 * How many of `messages` (in seq order) make one page: the first always, then each while the page
 * stays within `limit` messages and `maxBytes`. A store reading one channel stops after the first
 * message past the page (it tells there is more); merged over channels, every channel's page
 * still covers its share of the merged page, so `more` is exact.
 */
export function pageLength(messages: readonly StoredMessage[], limit: number, maxBytes: number): number {
  if (messages.length === 0) return 0;
  let bytes = messageBytes(messages[0]!);
  let n = 1;
  while (n < messages.length && n < limit) {
    const b = messageBytes(messages[n]!);
    if (bytes + b > maxBytes) break;
    bytes += b;
    n++;
  }
  return n;
}

/**
 * Merges per-channel pages (each in seq order) and cuts the result to one page. `completeUpTo`:
 * the seq up to which every channel's share is known (a store that fetched a bounded amount of a
 * channel and cannot tell whether its page ended there); messages after it wait for the next page.
 */
export function mergePage(
  messages: StoredMessage[],
  sorted: boolean,
  limit: number,
  maxBytes: number,
  completeUpTo = Number.POSITIVE_INFINITY,
): { messages: StoredMessage[]; more: boolean } {
  if (!sorted) messages.sort((a, b) => a.seq - b.seq);
  let known = messages.length;
  while (known > 0 && messages[known - 1]!.seq > completeUpTo) known--;
  const n = pageLength(known < messages.length ? messages.slice(0, known) : messages, limit, maxBytes);
  const more = n < messages.length || completeUpTo !== Number.POSITIVE_INFINITY;
  return { messages: n < messages.length ? messages.slice(0, n) : messages, more };
}

/**
 * One channel's share of a page from `source` (in seq order): the messages of its own page (see
 * {@link pageLength}) and the first one past it, if any, which only tells there is more. Stops
 * reading there: a page of large messages never reads (or parses) the rest of the history.
 */
export function channelPage(
  source: Iterable<StoredMessage>,
  limit: number,
  maxBytes: number,
): StoredMessage[] {
  const out: StoredMessage[] = [];
  let bytes = 0;
  for (const m of source) {
    out.push(m);
    const b = messageBytes(m);
    if (out.length > 1 && (out.length > limit || bytes + b > maxBytes)) break;
    bytes += b;
  }
  return out;
}
