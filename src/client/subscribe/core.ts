// subscribe() over a table of transports: one API over WebSocket, SSE, XHR streaming, long-poll
// and JSONP, with fallback, reconnect with backoff, gapless resume from the cursor, and an end on
// permanent refusals (docs/client-subscribe.md). browser.ts and index.ts give it their transports.
import type { Envelope, GapData } from '../../protocol/envelope.js';
import { badOption, type CometaError } from '../errors.js';
import { probe, type Verdict } from './probe.js';
import type {
  Connect,
  Frame,
  Message,
  SubscribeOptions,
  SubscribeTransport,
  SubscriptionState,
  SubscriptionStatus,
  UrlFor,
} from './types.js';

export type {
  Message,
  SubscribeOptions,
  SubscribeTransport,
  SubscriptionState,
  SubscriptionStatus,
  WebSocketLike,
} from './types.js';

/** Transports by name; the key order is the default order of preference. */
export type Transports = Partial<Record<SubscribeTransport, Connect>>;

/** The transport that last worked, per hub: later subscriptions to that hub start there. */
const worked: Record<string, SubscribeTransport> = {};

/** Events of a {@link Subscription}; `T` is the type of the messages' `data`. */
export interface SubscriptionEvents<T = unknown> {
  message: Message<T>;
  gap: Envelope<GapData>;
  deleted: Envelope<{ channel: string }>;
  /** A `join` or `leave` envelope (option `presence`): `data` is the member. */
  presence: Envelope<PresenceData>;
  status: SubscriptionStatus;
  error: CometaError;
}

/** A presence member, as `join` / `leave` envelopes and snapshots carry it (docs/presence.md). */
export interface PresenceData {
  member: string;
  info?: unknown;
  anonymous?: true;
}

/** A live subscription, as {@link subscribe} returns it. */
export interface Subscription<T = unknown> {
  /** The cursor after the last message received: store it to resume later with `since`. */
  readonly cursor: string | undefined;
  /** The transport in use (or being tried). */
  readonly transport: SubscribeTransport | undefined;
  /** The current state. */
  readonly state: SubscriptionState;
  /** The subscribed channels; assigning changes them while open (resuming from the cursor). */
  get channels(): string[];
  set channels(channels: string | readonly string[]);
  /** Changes the channels while open: the connection is renewed from the cursor, nothing is lost. */
  setChannels(channels: string | readonly string[]): void;
  /**
   * The members of a presence channel now (`GET /presence/{channel}`):
   * `{channel, members: [{member, info?, anonymous?}], count, truncated}`.
   */
  presence(
    channel: string,
  ): Promise<{ channel: string; members: PresenceData[]; count: number; truncated: boolean }>;
  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof SubscriptionEvents<T>>(
    event: K,
    fn: (value: SubscriptionEvents<T>[K]) => void,
  ): () => void;
  /** Closes the subscription for good (status `closed`, reason `closed`). */
  close(): void;
}

/** A channel name, or a wildcard pattern (`scores.*`, `quotes.**`); the hub checks the rest. */
const CHANNEL = /^(?:[\w~:-]+|\*\*?)(?:\.(?:[\w~:-]+|\*\*?))*$/;

function checkChannels(c: unknown): string[] {
  const list = typeof c === 'string' ? [c] : c;
  if (!Array.isArray(list) || !list.length || !list.every((x) => CHANNEL.test(x)))
    throw badOption('channels', 'a channel name or a non-empty array of them');
  return list.slice();
}

/** {@link subscribe} over the transports of `CONNECT`. */
export function subscribeVia<T>(
  CONNECT: Transports,
  hubUrl: string | URL,
  channels: string | readonly string[],
  o: SubscribeOptions<T>,
): Subscription<T> {
  let chans = checkChannels(channels);
  const names = Object.keys(CONNECT) as SubscribeTransport[];
  const list = o.transports ?? names;
  // `every?.`: anything but an array (a string, say) has none and is refused too.
  if (!list.length || !list.every?.((t) => names.includes(t)))
    throw badOption('transports', `a non-empty array of ${names}`);
  const hub = `${hubUrl}`.replace(/\/+$/, '');
  type Events = SubscriptionEvents<T>;
  const L: { [K in keyof Events]: Array<(v: Events[K]) => void> } = {
    message: o.onMessage ? [o.onMessage] : [],
    gap: o.onGap ? [o.onGap] : [],
    deleted: o.onDeleted ? [o.onDeleted] : [],
    presence: o.onPresence ? [o.onPresence] : [],
    status: o.onStatus ? [o.onStatus] : [],
    error: o.onError ? [o.onError] : [],
  };
  let cursor: string | undefined;
  let epoch = '';
  let seq = -1;
  let state: SubscriptionState = 'connecting';
  let i = Math.max(0, list.indexOf(worked[hub] as SubscribeTransport));
  let transport: SubscribeTransport | undefined = list[i];
  /** The transport whose connection failed or ended last (cleared when one opens). */
  let failed: SubscribeTransport | undefined;
  /** Identity of the current connection (or probe); frames from any other are ignored. */
  let current: object | undefined;
  let stop = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  let better: ReturnType<typeof setTimeout> | undefined;
  let attempts = 0;
  let opened = false;
  /** The last probe found no hub: the next rounds probe before connecting. */
  let down = false;
  let reason: string | undefined;
  /** The open frame's cursor when it could not be taken yet (a `last` start). */
  let held: string | undefined;
  let last = '';
  /** The last poll answer's presence cursor (polls only: streams hear every join and leave). */
  let pc: string | undefined;

  const emit = <K extends keyof Events>(t: K, v: Events[K]) => {
    for (const f of L[t].slice()) {
      try {
        f(v);
      } catch (e) {
        // A listener's bug must not break the stream; report it like an uncaught error.
        setTimeout(() => {
          throw e;
        });
      }
    }
  };
  /** Reports a state; the same state, transport and reason twice in a row is one event. */
  const status = (s: SubscriptionState, why?: string, error?: CometaError) => {
    state = s;
    const key = [s, transport, failed, why].join();
    if (key === last) return;
    last = key;
    const v: SubscriptionStatus = { state: s, transport };
    if (failed) v.failed = failed;
    if (why) v.reason = why;
    if (error) v.error = error;
    emit('status', v);
  };
  /** Moves the cursor to `id` when it is newer (or of a new epoch); false for a duplicate. */
  const adopt = (id: string): boolean => {
    const k = id.lastIndexOf('-');
    const e = id.slice(0, k);
    const n = +id.slice(k + 1);
    if (e === epoch && n <= seq) return false;
    epoch = e;
    seq = n;
    cursor = id;
    return true;
  };
  if (o.since) adopt(o.since);

  const url: UrlFor = (q) =>
    `${hub}/sub/${chans.map(encodeURIComponent)}?${
      cursor ? `since=${cursor}&` : o.last ? `last=${o.last}&` : ''
    }${o.presence ? `presence=1&${pc ? `psince=${pc}&` : ''}` : ''}${o.member ? `member=${encodeURIComponent(o.member)}&` : ''}${q}`;

  const halt = () => {
    current = undefined;
    stop();
    clearTimeout(timer);
    clearTimeout(better);
  };

  const frame = (v: Frame) => {
    if (!opened) {
      opened = true;
      attempts = 0;
      failed = undefined;
      clearTimeout(timer);
      // Remembered only when there was a choice: a transport the caller forced says nothing about
      // which one works best here.
      if (list.length > 1) worked[hub] = transport as SubscribeTransport;
      // On a fallback transport, try the better ones again later (resuming from the cursor).
      if (i) better = setTimeout(() => restart(0), o.retryBetterAfter ?? 120_000);
      status('open');
    }
    // The frame that starts a stream (`open`, or whatever name the hub gives it) is the only
    // control frame with an event other than `close`; poll answers end with a bare `{cursor}`.
    const start = v.event != null && v.event !== 'close';
    if (v.channel != null) {
      if (v.id != null) {
        if (adopt(v.id)) emit('message', v as Message<T>);
      } else if (v.event === 'gap') emit('gap', v as Envelope<GapData>);
      else if (v.event === 'deleted') emit('deleted', v as Envelope<{ channel: string }>);
      else if (v.event === 'join' || v.event === 'leave') emit('presence', v as Envelope<PresenceData>);
    } else {
      // The start frame's cursor is after the replay that follows it: only a fresh start takes it.
      // With `last`, it is held: if the connection ends before any message, resume from it rather
      // than asking for the last N again (which would skip what was published in between).
      if (v.cursor && (!start || (!cursor && !o.last))) adopt(v.cursor);
      else if (start) held = v.cursor;
      if (v.event === 'close') reason = v.reason;
      // A stream's frames carry none: polls after one start over (with a snapshot), not from an
      // old position, which would repeat what the stream delivered.
      pc = v.pcursor;
    }
  };

  const ended = () => {
    halt();
    failed = transport;
    if (!cursor && held) adopt(held);
    if (reason === 'auth') return close('auth');
    if (!opened) return check(true);
    // A recycled stream resumes invisibly.
    if (reason === 'recycle') return connect();
    schedule(reason ?? 'network');
  };

  const schedule = (why: string) => {
    status('reconnecting', why);
    const d = Math.min(o.maxDelay ?? 15_000, (o.minDelay ?? 250) * 2 ** attempts++);
    timer = setTimeout(() => (down ? check(false) : connect()), d / 2 + (Math.random() * d) / 2);
  };

  /** The open timeout grows with failed rounds: a slow but working hub must not be abandoned. */
  const wait = (then: () => void) => {
    timer = setTimeout(then, (o.openTimeout ?? 4000) * 2 ** Math.min(attempts, 3));
  };

  /**
   * Asks the hub (see probe.ts) after a transport failed to open (`fallback`), or before the next
   * attempt while it was down.
   */
  const check = (fallback: boolean) => {
    const me = {};
    current = me;
    const ac = new AbortController();
    stop = () => ac.abort();
    wait(stop);
    probe(url('mode=poll'), ac.signal).then((v: Verdict) => {
      if (current !== me) return;
      clearTimeout(timer);
      down = v === 'down';
      if (typeof v === 'object') return fail(v);
      if (v !== 'up') return schedule(v);
      if (!fallback) return connect();
      // The hub answers, so this transport cannot work here: the next one at once; after the
      // last, back off and start over.
      if (++i < list.length) {
        transport = list[i];
        status('reconnecting', 'failed');
        return connect();
      }
      i = 0;
      transport = list[0];
      schedule('failed');
    });
  };

  const connect = () => {
    const me = {};
    current = me;
    transport = list[i] as SubscribeTransport;
    opened = false;
    reason = undefined;
    wait(() => current === me && ended());
    stop = (CONNECT[transport] as Connect)(
      url,
      {
        f: (v) => current === me && frame(v),
        x: () => current === me && ended(),
      },
      o,
    );
  };

  const restart = (to: number) => {
    halt();
    i = to;
    connect();
  };

  const end = (s: SubscriptionState, why: string, error?: CometaError) => {
    if (state === 'closed' || state === 'failed') return;
    halt();
    o.signal?.removeEventListener('abort', abort);
    status(s, why, error);
  };
  const close = (why = 'closed') => end('closed', why);
  const fail = (e: CometaError) => {
    end('failed', (e.data as { error?: { code?: string } } | null)?.error?.code ?? e.code, e);
    emit('error', e);
  };
  const abort = () => close('aborted');

  const setChannels = (c: string | readonly string[]) => {
    chans = checkChannels(c);
    if (state !== 'closed' && state !== 'failed') restart(i);
  };

  status('connecting');
  if (o.signal?.aborted) abort();
  else {
    o.signal?.addEventListener('abort', abort);
    connect();
  }
  return {
    get cursor() {
      return cursor;
    },
    get transport() {
      return transport;
    },
    get state() {
      return state;
    },
    get channels() {
      return chans.slice();
    },
    set channels(c) {
      setChannels(c);
    },
    setChannels,
    presence: (c) => fetch(`${hub}/presence/${encodeURIComponent(c)}`).then((r) => r.json()),
    on(t, fn) {
      const l = L[t] as Array<typeof fn>;
      l.push(fn);
      return () => {
        const k = l.indexOf(fn);
        if (k >= 0) l.splice(k, 1);
      };
    },
    close: () => close(),
  };
}
