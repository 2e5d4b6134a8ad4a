import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { isWildcard } from '../protocol/channel.js';
import { formatCursor } from '../protocol/cursor.js';
import type { CloseReason, GapData } from '../protocol/envelope.js';
import { Frame, FrameRun } from './frame.js';
import { AutoNagle } from './nagle.js';
import type { ResolvedOptions } from './options.js';
import { PatternIndex } from './pattern-index.js';
import { HubPresence, LocalPresence, type PresenceMember } from './presence.js';
import { mergePresence, PresenceLog } from './presence-log.js';
import {
  messageBytes,
  type Store,
  type StoredMessage,
  type StoreEvent,
  StoreUnavailableError,
} from './stores/store.js';
import type { Subscriber } from './subscriber.js';
import type { Start, TransportName } from './transports/transport.js';

/**
 * Largest run of coalesced messages (JSON characters): a run is one write, and the slow-consumer
 * check happens between writes, so this bounds how far a run can overshoot maxBufferedBytes.
 */
const MAX_RUN_CHARS = 64 * 1024;

/** How many recently published frames are kept for replays (a power of two). */
const RECENT_FRAMES = 1024;

/**
 * Envelope characters the recent frames may hold in all (their encodings, built on use, add up to
 * about three times as much): a frame that does not fit is not kept, so large messages are shared
 * by the replays that reach them while they fit, and serialized again per replay beyond that.
 */
const RECENT_CHARS = 16 * 1024 * 1024;

/** Counters the hub keeps for /metrics and channel info. */
export interface HubStats {
  published: number;
  delivered: number;
  /** Deliveries that shared one socket write with other messages of the same turn (FrameRun). */
  coalesced: number;
  slowConsumerDrops: number;
  gaps: number;
  /** Store failures seen by the hub (unreachable backend, failed reads/appends reported to clients). */
  storeErrors: number;
  /** Image pings / beacons refused by policy (not enabled for the channel, Origin, bad input). */
  pingsRefused: number;
  /** Bytes of unsent output a slow consumer had queued when it was dropped (summed). */
  slowConsumerBytes: number;
  /** Subscriptions ended because their token expired (close reason `auth`). */
  authExpired: number;
  /** Publishes refused with 429 by `limits.publishRatePerIp` / `publishRatePerToken`. */
  rateLimited: number;
  /** Requests refused with 503, and connections closed unanswered (over the limits with 1,024 already waiting), by `limits.maxConnections` / `maxConnectionsPerIp`. */
  connectionsRefused: number;
  /** HTTP publishes answered by the fast lane (http/fast-lane.ts), failures included. */
  fastPublishes: number;
  /** Long-polls and interval polls taken by the fast lane (http/fast-poll.ts), failures included. */
  fastPolls: number;
  /** Publishes answered with the id of an earlier one (same idempotency key), storing nothing. */
  duplicates: number;
  /** Times `tcpNoDelay: 'auto'` switched Nagle on or off (nagle.ts). */
  nagleSwitches: number;
  /** Full collections run by idle compaction (idle-gc.ts) in this process while this hub took part (`compactWhenIdleMs` > 0). */
  idleCompactions: number;
  /** Durable Streams catch-up answers gzipped here (streams/gzip.ts). */
  streamsGzipped: number;
  /** Gzipped catch-up answers taken from the cache of compressed pages. */
  streamsGzipCached: number;
  /** Catch-up answers sent uncompressed to a client accepting gzip because compressions were busy. */
  streamsGzipSkipped: number;
}

/**
 * The hub's transport-independent heart: the channel registry, fan-out of store events to
 * subscribers, the replay-then-live attach of new subscribers, and one sweep timer for every
 * heartbeat and long-poll deadline (no per-subscriber timers).
 */
export class HubCore {
  readonly options: ResolvedOptions;
  readonly store: Store;
  readonly log: Logger | undefined;
  readonly stats: HubStats = {
    published: 0,
    delivered: 0,
    coalesced: 0,
    slowConsumerDrops: 0,
    gaps: 0,
    storeErrors: 0,
    pingsRefused: 0,
    slowConsumerBytes: 0,
    authExpired: 0,
    rateLimited: 0,
    fastPublishes: 0,
    fastPolls: 0,
    connectionsRefused: 0,
    idleCompactions: 0,
    streamsGzipped: 0,
    streamsGzipCached: 0,
    streamsGzipSkipped: 0,
    nagleSwitches: 0,
    duplicates: 0,
  };
  /** Called once per sweep tick with the time (rate-limit bucket cleanup...): no timers of their own. */
  readonly sweepHooks: Array<(now: number) => void> = [];
  /**
   * Observer of every message fanned out (metrics latency, dashboard rates): one call per message,
   * not per subscriber, so the hot path pays nothing per connection.
   */
  onFanout: ((m: StoredMessage, subscribers: number) => void) | undefined;
  /**
   * Frames waiting for this turn's fan-out, in arrival (= seq) order. Fan-out runs once per
   * event-loop turn (setImmediate), so messages published in the same turn on one channel reach
   * each subscriber in one write: under load, bursts cost one syscall per subscriber, not one per
   * message per subscriber.
   */
  #queue: Frame[] = [];
  #flushScheduled = false;
  readonly #flush = (): void => this.#flushNow();
  /**
   * The highest seq this hub knows was stored: the store's head when the hub started, then every
   * message the store reported. A subscriber whose cursor is at or past it has nothing to replay
   * (anything stored later reaches it by fan-out, since it registers first), so its attach skips
   * the history read: a long-poll that re-polls after each answer costs no store query (no Redis
   * round trip). MAX_SAFE_INTEGER until the head is known: no shortcut then.
   */
  #seen = Number.MAX_SAFE_INTEGER;
  /** Recent frames by seq (a power-of-two ring); see #frame. */
  readonly #recent: Array<Frame | undefined> = new Array(RECENT_FRAMES);
  /** Envelope characters of the frames in #recent (bounded by RECENT_CHARS). */
  #recentChars = 0;
  /** Subscribers by channel. */
  readonly #channels = new Map<string, Set<Subscriber>>();
  /** Subscribers by wildcard pattern (`scores.*`), matched per published channel by a trie. */
  readonly #patterns = new PatternIndex<Subscriber>();
  /**
   * Channels whose subscriber set became empty. The sweep forgets those still empty, so a channel
   * that one long-poll leaves and the next rejoins keeps its set (no Map and Set churn per poll).
   */
  readonly #emptied = new Set<string>();
  /** Every attached subscriber, for heartbeats, deadlines and shutdown. */
  readonly #all = new Set<Subscriber>();
  readonly #byTransport = new Map<TransportName, number>();
  #timer: NodeJS.Timeout | undefined;
  /**
   * Heartbeats are spread over the interval instead of sent to every stream at once: each stream
   * has a slot, and a sweep beats the streams of one slot, so a stream hears from the hub every
   * `heartbeatMs` (plus at most one sweep). Beating 100,000 streams (and reading 100,000 pongs) in
   * one go would stall delivery for everyone for as long as that takes.
   */
  #slots = 1;
  #nextSlot = 0;
  /** The slot the sweeps are on; it moves to the next one once beaten. */
  #slot = 0;
  /** When each slot was last beaten: a slot is beaten again only heartbeatMs later, however the
   * sweep timer drifts (a peer is never pinged, and judged on its pong, more often than that). */
  #beatAt: number[] = [0];
  #lastStoreSweep = Date.now();
  /** `tcpNoDelay: 'auto'`'s state, sampled by the sweep; undefined for a fixed true/false. */
  readonly #autoNagle: AutoNagle | undefined;
  /** The epoch subscribers' cursors refer to; differs from store.epoch right after the store lost history. */
  #knownEpoch = '';
  closing = false;
  /** Members of presence-enabled channels (presence.ts). */
  readonly presence: HubPresence;
  /** Recent joins and leaves of watched channels, for polls to catch up with (presence-log.ts). */
  readonly presenceLog: PresenceLog;
  /**
   * Seq of the last message the store reported (or its head at start): a join or leave goes after
   * it, which is how a poll's catch-up orders them with its messages.
   */
  #lastMessage = 0;

  constructor(options: ResolvedOptions, store: Store, log: Logger | undefined) {
    this.options = options;
    this.store = store;
    this.log = log;
    const p = options.presence;
    this.presence = new HubPresence(
      options,
      store.presenceBackend?.({ ttlMs: p.ttlMs, maxMembers: p.maxMembers }) ??
        new LocalPresence(p.maxMembers, (channel, event, m) => this.#announce(channel, event, m, Date.now())),
    );
    this.presenceLog = new PresenceLog(p);
    this.#autoNagle = options.tcpNoDelay === 'auto' ? new AutoNagle(Date.now()) : undefined;
    store.listen((e) => this.#onStore(e));
  }

  /**
   * Whether a stream or WebSocket socket gets TCP_NODELAY now: `options.tcpNoDelay`, or with
   * `'auto'` whatever the load asks for (nagle.ts). Sockets opened later take it from here.
   */
  get noDelay(): boolean {
    const auto = this.#autoNagle;
    return auto === undefined ? this.options.tcpNoDelay === true : !auto.active;
  }

  get epoch(): string {
    return this.store.epoch;
  }

  /** Starts the sweep timer (after the store is open). */
  start(): void {
    this.#knownEpoch = this.store.epoch;
    if (this.store.lostHistory !== undefined)
      this.log?.warn({ epoch: this.epoch }, `${this.store.lostHistory}; resumes get gap events`);
    this.#learnHead();
    const every = Math.min(250, this.options.heartbeatMs);
    this.#slots = Math.max(1, Math.floor(this.options.heartbeatMs / every));
    // The first round is staggered too: slot k is first due k + 1 sweeps from now, so every stream
    // hears from the hub within heartbeatMs of the start (not twice that for the last slot).
    const now = Date.now();
    const hb = this.options.heartbeatMs;
    this.#beatAt = Array.from({ length: this.#slots }, (_, k) => now - hb + (k + 1) * every);
    this.#timer = setInterval(() => this.#sweep(), every);
    this.#timer.unref();
  }

  /** Subscribers currently on a channel (or on a wildcard pattern, given one). */
  subscriberCount(channel: string): number {
    if (isWildcard(channel)) return this.#patterns.count(channel);
    return this.#channels.get(channel)?.size ?? 0;
  }

  /** Connections by transport. */
  connections(): Record<string, number> {
    return Object.fromEntries(this.#byTransport);
  }

  /** Subscriber counts of every channel that has subscribers here (dashboard, metrics). */
  channelCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, set] of this.#channels) if (set.size > 0) out.set(name, set.size);
    return out;
  }

  /** Every subscriber (read-only view for shutdown and admin). */
  get subscribers(): ReadonlySet<Subscriber> {
    return this.#all;
  }

  /**
   * Registers a subscriber, replays what its start asks for, then switches it to live delivery.
   * Registration comes first so nothing published during the replay read is missed; `deliver`
   * drops what the replay already covered by seq.
   *
   * A wildcard subscription's replay goes up to the head read before its patterns' channels are
   * looked up (`upTo`), not to the head of the read after: a channel first published between the
   * lookup and the read is not among the channels read, so the replay must not claim the seqs
   * past the lookup (its messages would be dropped as covered). Every message after `upTo` comes
   * live, the subscriber being registered before `upTo` was read.
   */
  async attach(sub: Subscriber, start: Start): Promise<void> {
    this.#add(sub);
    const member = sub.presence?.member;
    if (member !== undefined) this.presence.enter(sub.channels, member);
    if (sub.presence?.events === true) this.presenceLog.watch(this.#presenceChannels(sub.channels));
    const limit = this.options.limits.maxBatch;
    const bytes = this.#pageBytes(sub);
    const batch: Frame[] = [];
    let more = false;
    /** The messages of the first page (a poll's answer), for its byte count with presence events. */
    let page: readonly StoredMessage[] = [];
    /** The channels the replay reads: the subscription's, with its patterns' channels in their place. */
    let names: readonly string[] = sub.channels;
    /** The seq a wildcard replay goes up to at most (see above): the rest comes live. */
    let upTo = Number.POSITIVE_INFINITY;
    try {
      if (start.kind === 'new') {
        sub.lastSeq = await this.store.head();
      } else if (start.kind === 'last') {
        // `last=N` on several channels is still one page (maxBatch, maxBatchBytes in all); the
        // rest follows from the cursor after its last message, like any resume.
        if (sub.channels.some(isWildcard)) {
          upTo = await this.store.head();
          names = (await this.#expand(sub.channels, 0)).names;
        }
        const r = await this.store.last(names, start.n, limit, bytes);
        const c = upToSeq(r.messages, r.more === true, upTo);
        page = c.messages;
        for (const m of c.messages) batch.push(this.#frame(m));
        more = c.more && c.messages.length > 0;
        sub.lastSeq = more ? c.messages[c.messages.length - 1]!.seq : Math.min(r.head, upTo);
      } else if (start.cursor.epoch === this.epoch && start.cursor.seq === this.#seen) {
        // Up to date (see #seen): nothing to replay, no gap possible after the cursor.
        sub.lastSeq = start.cursor.seq;
      } else {
        let after = start.cursor.seq;
        const lostEpoch = start.cursor.epoch !== this.epoch;
        if (lostEpoch) after = 0;
        let x: { names: string[]; overflow: string[] } | undefined;
        if (sub.channels.some(isWildcard)) {
          upTo = await this.store.head();
          x = await this.#expand(sub.channels, after);
        }
        names = x === undefined ? sub.channels : x.names;
        const r = await this.store.read(names, after, limit, bytes);
        // A cursor past the store's head in its own epoch: ids the store no longer has (a file
        // restored from an older copy). What the subscriber had is gone, as with a new epoch.
        const ahead = !lostEpoch && after > r.head;
        if (ahead) after = Math.min(r.head, upTo);
        const gaps =
          lostEpoch || ahead
            ? sub.channels.map((channel) => ({ channel, reason: 'epoch' as const }))
            : x === undefined || x.overflow.length === 0
              ? r.gaps
              : [...x.overflow.map((channel) => ({ channel, reason: 'trimmed' as const })), ...r.gaps];
        for (const g of gaps) {
          const next = r.messages.find((m) => m.channel === g.channel);
          const data: GapData = {
            reason: g.reason,
            since: start.raw,
            next: next ? formatCursor(this.epoch, next.seq) : null,
          };
          batch.push(Frame.hubEvent(g.channel, 'gap', data));
          this.stats.gaps++;
        }
        const c = upToSeq(r.messages, r.more, upTo);
        page = c.messages;
        for (const m of c.messages) batch.push(this.#frame(m));
        more = c.more;
        sub.lastSeq = more ? c.messages[c.messages.length - 1]!.seq : Math.max(Math.min(r.head, upTo), after);
      }
    } catch (err) {
      this.remove(sub);
      throw err;
    }
    if (sub.closed) return;
    if (!sub.streaming && sub.presence?.events === true) {
      // A poll catches up with the joins and leaves since its last answer, merged with its page
      // and counted in it: what does not fit follows from the answer's cursors.
      const r = this.presenceLog.replay(this.#presenceChannels(sub.channels), sub.presenceSince, sub.lastSeq);
      const p = mergePresence(batch, page.map(messageBytes), r, limit, bytes);
      if (p.seq !== undefined) sub.lastSeq = p.seq;
      sub.presencePos = p.pos;
      sub.begin(p.frames);
    } else sub.begin(batch);
    // Streams page through a long history before going live; polls answer one page at a time.
    // Between pages the peer takes what it was sent (bounded wait) and other work runs: a long
    // replay costs at most a page of memory, and never holds the event loop for more than a page.
    while (more && sub.streaming && !sub.closed) {
      await sub.drained();
      await nextTurn();
      if (sub.closed) return;
      const r = await this.store.read(names, sub.lastSeq, limit, bytes);
      if (sub.closed) return;
      const c = upToSeq(r.messages, r.more, upTo);
      more = c.more;
      if (c.messages.length > 0) sub.more(c.messages.map((m) => this.#frame(m)));
      sub.lastSeq = more
        ? c.messages[c.messages.length - 1]!.seq
        : Math.max(Math.min(r.head, upTo), sub.lastSeq);
    }
    this.#goLive(sub);
  }

  /**
   * Bytes of one answer or replay page: `maxBatchBytes`, and for streams no more than they may
   * have unsent (a page written at once must not trip the slow-consumer check).
   */
  #pageBytes(sub: Subscriber): number {
    const l = this.options.limits;
    return sub.streaming ? Math.min(l.maxBatchBytes, l.maxBufferedBytes) : l.maxBatchBytes;
  }

  /**
   * The channels a replay of `channels` after `after` reads: the plain names, and for each wildcard
   * pattern the channels matching it that had messages since (Store.activeChannels). When they
   * exceed `limits.maxPatternChannels` (or the store cannot tell), the patterns are listed in
   * `overflow`: a resume answers a gap for each instead of a replay. `after` 0 (last-N, or a lost
   * epoch) takes the most recently active channels.
   */
  async #expand(
    channels: readonly string[],
    after: number,
  ): Promise<{ names: string[]; overflow: string[] }> {
    const patterns = channels.filter(isWildcard);
    const names = new Set(channels.filter((c) => !isWildcard(c)));
    const store = this.store;
    if (store.activeChannels === undefined) return { names: [...names], overflow: patterns };
    const r = await store.activeChannels(patterns, after, this.options.limits.maxPatternChannels);
    // Past the bound a resume replays none of the patterns' channels (their gap says so); last-N
    // takes the most recently active.
    if (!r.overflow || after === 0) for (const c of r.channels) names.add(c);
    return { names: [...names], overflow: r.overflow ? patterns : [] };
  }

  /** Flushes what arrived during the replay and switches the subscriber to direct delivery. */
  #goLive(sub: Subscriber): void {
    const pending = sub.pending;
    sub.pending = null;
    if (pending === null || sub.closed) return;
    for (const f of pending) {
      if (sub.closed) return;
      sub.deliver(f);
    }
  }

  /** Changes a live subscriber's channel set (WebSocket subscribe/unsubscribe frames). */
  setChannels(sub: Subscriber, channels: string[]): void {
    const member = sub.presence?.member;
    const now = Date.now();
    if (member !== undefined) this.presence.exit(sub.channels, member, now);
    const watches = sub.presence?.events === true;
    if (watches) this.presenceLog.unwatch(this.#presenceChannels(sub.channels), now);
    for (const c of sub.channels) this.#leave(c, sub);
    sub.channels = channels;
    for (const c of channels) this.#join(c, sub);
    if (member !== undefined) this.presence.enter(channels, member);
    if (watches) this.presenceLog.watch(this.#presenceChannels(channels));
  }

  /** The channels of a list that keep presence (the ones a presence log is about). */
  #presenceChannels(channels: readonly string[]): string[] {
    return channels.filter((c) => this.presence.enabled(c));
  }

  #add(sub: Subscriber): void {
    this.#all.add(sub);
    // Round-robin over the heartbeat slots: the streams' heartbeats spread over the interval
    // (polls are never beaten, so they take no slot). Slots are not rebalanced as streams leave.
    if (sub.streaming) {
      sub.beatSlot = this.#nextSlot;
      this.#nextSlot = (this.#nextSlot + 1) % this.#slots;
    }
    this.#byTransport.set(sub.transport, (this.#byTransport.get(sub.transport) ?? 0) + 1);
    for (const c of sub.channels) this.#join(c, sub);
  }

  #join(channel: string, sub: Subscriber): void {
    if (isWildcard(channel)) {
      this.#patterns.add(channel, sub);
      return;
    }
    let set = this.#channels.get(channel);
    if (!set) {
      set = new Set();
      this.#channels.set(channel, set);
    }
    set.add(sub);
  }

  /** Unregisters a subscriber (idempotent). */
  remove(sub: Subscriber): void {
    if (!this.#all.delete(sub)) return;
    this.#byTransport.set(sub.transport, (this.#byTransport.get(sub.transport) ?? 1) - 1);
    const member = sub.presence?.member;
    if (member !== undefined) this.presence.exit(sub.channels, member, Date.now());
    if (sub.presence?.events === true)
      this.presenceLog.unwatch(this.#presenceChannels(sub.channels), Date.now());
    for (const c of sub.channels) this.#leave(c, sub);
  }

  #leave(channel: string, sub: Subscriber): void {
    if (isWildcard(channel)) {
      this.#patterns.delete(channel, sub);
      return;
    }
    const set = this.#channels.get(channel);
    if (set === undefined) return;
    set.delete(sub);
    if (set.size === 0) this.#emptied.add(channel);
  }

  /** Collects seqs while the store's head is being read (see #seen, #learnHead). */
  #track: ((e: StoreEvent) => void) | undefined;

  /** Reads the store's head into #seen, counting messages reported meanwhile; shortcut off until then. */
  #learnHead(): void {
    this.#seen = Number.MAX_SAFE_INTEGER;
    let latest = 0;
    const track = (e: StoreEvent): void => {
      if (e.type === 'message' && e.message.seq > latest) latest = e.message.seq;
    };
    this.#track = track;
    this.store.head().then(
      (head) => {
        // A newer #learnHead (epoch change) replaced this one.
        if (this.#track !== track) return;
        this.#track = undefined;
        this.#seen = Math.max(head, latest);
        if (this.#seen > this.#lastMessage) this.#lastMessage = this.#seen;
      },
      // Unknown head (store down): the shortcut stays off until the next epoch or restart.
      () => {},
    );
  }

  #onStore(e: StoreEvent): void {
    switch (e.type) {
      case 'message':
        if (e.message.seq > this.#lastMessage) this.#lastMessage = e.message.seq;
        if (this.#track !== undefined) this.#track(e);
        else if (e.message.seq > this.#seen) this.#seen = e.message.seq;
        this.#fanout(e.message);
        break;
      case 'deleted':
        this.#broadcast(e.channel, Frame.hubEvent(e.channel, 'deleted', { channel: e.channel }, e.time));
        break;
      case 'epoch':
        this.#onEpoch();
        break;
      case 'presence':
        this.#announce(e.channel, e.event, e.member, e.time);
        break;
      case 'status':
        if (!e.up) this.stats.storeErrors++;
        {
          // Once per change, never per reconnect attempt, and with the address (Redis), not a stack.
          const at = (this.store as { address?: unknown }).address;
          const where = typeof at === 'string' ? ` at ${at}` : '';
          this.log?.warn(
            { up: e.up, store: this.store.kind },
            e.up ? `store reachable again${where}` : `store unreachable${where}`,
          );
        }
        break;
    }
  }

  #fanout(m: StoredMessage): void {
    const set = this.#channels.get(m.channel);
    let n = set?.size ?? 0;
    if (this.#patterns.size > 0) for (const p of this.#patterns.match(m.channel)) n += p.size;
    this.onFanout?.(m, n);
    // Nobody here now: a subscriber that attaches before the flush reads this message as history.
    if (n === 0) return;
    this.#enqueue(this.#frame(m));
  }

  #broadcast(channel: string, frame: Frame): void {
    if ((this.#channels.get(channel)?.size ?? 0) > 0 || this.#patterns.match(channel).length > 0)
      this.#enqueue(frame);
  }

  /**
   * A join or leave: to the channel's subscribers who asked for presence, in order with its
   * messages, and into the presence log for the polls between two requests.
   */
  #announce(channel: string, event: 'join' | 'leave', m: PresenceMember, time: number): void {
    const frame = Frame.presenceEvent(channel, event, m, time);
    this.presenceLog.record(channel, frame, this.#lastMessage, Date.now());
    this.#broadcast(channel, frame);
  }

  #enqueue(frame: Frame): void {
    this.#queue.push(frame);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  /**
   * Delivers the queued frames in order. Consecutive messages of one channel go out as a FrameRun
   * (one write per subscriber); a hub event or a change of channel ends a run, so a subscriber of
   * several channels still receives everything in seq order. Delivery errors are logged, never
   * thrown: this runs outside any request.
   */
  #flushNow(): void {
    this.#flushScheduled = false;
    const q = this.#queue;
    if (q.length === 0) return;
    this.#queue = [];
    let i = 0;
    while (i < q.length) {
      const first = q[i]!;
      let j = i + 1;
      if (first.seq !== 0) {
        let chars = first.json.length;
        while (j < q.length) {
          const f = q[j]!;
          if (f.seq === 0 || f.channel !== first.channel || chars + f.json.length > MAX_RUN_CHARS) break;
          chars += f.json.length;
          j++;
        }
      }
      const set = this.#channels.get(first.channel);
      const run = j - i > 1 ? new FrameRun(q.slice(i, j)) : undefined;
      if (set !== undefined) this.#deliverTo(set, first, run, j - i);
      if (this.#patterns.size > 0) {
        const matched = this.#patterns.match(first.channel);
        if (matched.length > 0) {
          if (first.seq === 0 && (set !== undefined || matched.length > 1)) {
            // A hub event has no seq to drop a second copy by: one delivery per subscriber.
            this.#deliverTo(new Set([...(set ?? []), ...matched.flatMap((p) => [...p])]), first, run, 1, set);
          } else {
            // A message reaches a subscriber of several matching patterns (or of the channel too)
            // once: deliver() drops a seq it has already given.
            for (const p of matched) this.#deliverTo(p, first, run, j - i);
          }
        }
      }
      i = j;
    }
  }

  /** Delivers one frame (or run of `count` frames) to a set of subscribers; `skip` had it already. */
  #deliverTo(
    set: ReadonlySet<Subscriber>,
    first: Frame,
    run: FrameRun | undefined,
    count: number,
    skip?: ReadonlySet<Subscriber>,
  ): void {
    if (first.seq !== 0) this.stats.delivered += set.size * count;
    for (const sub of set) {
      if (skip?.has(sub) || (first.presence && sub.presence?.events !== true)) continue;
      try {
        if (run === undefined) sub.deliver(first);
        else sub.deliverRun(run);
      } catch (err) {
        this.log?.error({ err, transport: sub.transport }, 'delivery failed');
      }
    }
  }

  /**
   * The frame of a stored message, from the ring of recent frames when it is there: a message is
   * serialized once for live fan-out and every replay of it (resumes, long-poll catch-ups) while
   * it is among the last RECENT_FRAMES published.
   */
  #frame(m: StoredMessage): Frame {
    const slot = m.seq & (RECENT_FRAMES - 1);
    const cached = this.#recent[slot];
    if (cached !== undefined && cached.seq === m.seq && cached.channel === m.channel) return cached;
    const frame = Frame.message(m, this.epoch);
    const replaced = cached === undefined ? 0 : cached.json.length;
    if (this.#recentChars - replaced + frame.json.length <= RECENT_CHARS) {
      this.#recent[slot] = frame;
      this.#recentChars += frame.json.length - replaced;
    }
    return frame;
  }

  #onEpoch(): void {
    // What was queued belongs to the old epoch: deliver it before the gaps.
    this.#flushNow();
    // The new epoch starts its seqs over: learn its head again (always read until then).
    this.#learnHead();
    // Cached frames carry the old epoch in their ids, and the new epoch reuses their seqs.
    this.#recent.fill(undefined);
    this.#recentChars = 0;
    this.#lastMessage = 0;
    this.presenceLog.reset();
    this.log?.warn({ epoch: this.epoch }, 'store history lost; subscribers get gap events');
    const old = this.#knownEpoch;
    this.#knownEpoch = this.epoch;
    for (const sub of this.#all) {
      const since = formatCursor(old, sub.lastSeq);
      sub.lastSeq = 0;
      for (const channel of sub.channels) {
        const data: GapData = { reason: 'epoch', since, next: null };
        this.stats.gaps++;
        sub.deliver(Frame.hubEvent(channel, 'gap', data));
      }
    }
  }

  /** The single timer: heartbeats for streams, deadlines for long-polls, age retention. */
  #sweep(): void {
    const now = Date.now();
    const slot = this.#slot;
    const beat = now - this.#beatAt[slot]! >= this.options.heartbeatMs;
    if (beat) {
      this.#beatAt[slot] = now;
      this.#slot = (slot + 1) % this.#slots;
    }
    for (const sub of this.#all) {
      // A token that expired ends its subscription (close reason `auth`); one compare per sweep.
      if (sub.expiresAt !== 0 && now >= sub.expiresAt) {
        this.stats.authExpired++;
        sub.end('auth');
        continue;
      }
      if (sub.streaming) {
        if (beat && sub.beatSlot === slot && sub.pending === null) sub.tick();
      } else if (sub.deadline !== 0 && now >= sub.deadline) {
        sub.tick();
      }
    }
    for (const hook of this.sweepHooks) hook(now);
    this.presence.sweep(now);
    this.presenceLog.sweep(now);
    if (this.#autoNagle?.sample(now)) this.#switchNagle();
    for (const c of this.#emptied) if (this.#channels.get(c)?.size === 0) this.#channels.delete(c);
    this.#emptied.clear();
    this.#patterns.prune();
    if (now - this.#lastStoreSweep >= 1000) {
      this.#lastStoreSweep = now;
      // An unreachable store fails every sweep until it is back: that is logged once, as the store's
      // status change, not here once a second with a stack.
      Promise.resolve(this.store.sweep(now)).catch((err: unknown) =>
        err instanceof StoreUnavailableError
          ? this.log?.debug({ store: this.store.kind }, `store sweep skipped: ${err.message}`)
          : this.log?.error({ err }, 'store sweep failed'),
      );
    }
  }

  /** Applies a change of `tcpNoDelay: 'auto'` to every open stream and WebSocket. */
  #switchNagle(): void {
    const noDelay = this.noDelay;
    for (const sub of this.#all) if (sub.streaming) sub.setNoDelay(noDelay);
    this.stats.nagleSwitches++;
    this.log?.info({ nagle: !noDelay }, noDelay ? 'load eased: TCP_NODELAY back on' : 'busy: Nagle on');
  }

  /** Ends every subscription with a reason (shutdown) and stops the timer. */
  endAll(reason: CloseReason): void {
    this.closing = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#flushNow();
    for (const sub of [...this.#all]) sub.end(reason);
  }
}

/**
 * A replay page cut at `upTo` (see HubCore.attach): the messages up to it, in seq order, and
 * whether more follow up to it.
 */
function upToSeq(
  messages: readonly StoredMessage[],
  more: boolean,
  upTo: number,
): { messages: readonly StoredMessage[]; more: boolean } {
  const n = messages.findIndex((m) => m.seq > upTo);
  return n === -1 ? { messages, more } : { messages: messages.slice(0, n), more: false };
}
