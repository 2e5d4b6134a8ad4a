// subscribe(): one API over WebSocket, SSE, XHR streaming, long-poll and JSONP, with fallback,
// reconnect with backoff, and gapless resume from the cursor (docs/client-subscribe.md).
import { isChannelName } from '../../protocol/channel.js';
import type { Envelope } from '../../protocol/envelope.js';
import { badOption } from '../errors.js';
import { jsonp } from './jsonp.js';
import { longpoll } from './longpoll.js';
import { sse } from './sse.js';
import { stream } from './stream.js';
import type {
  Connect,
  Frame,
  SubscribeOptions,
  SubscribeTransport,
  SubscriptionState,
  SubscriptionStatus,
  UrlFor,
} from './types.js';
import { websocket } from './websocket.js';

export type {
  SubscribeOptions,
  SubscribeTransport,
  SubscriptionState,
  SubscriptionStatus,
  WebSocketLike,
} from './types.js';

/** Transports by name; the key order is the default order of preference. */
const CONNECT: Record<SubscribeTransport, Connect> = { websocket, sse, stream, longpoll, jsonp };

/** The transport that last worked, per hub: later subscriptions to that hub start there. */
const worked: Record<string, SubscribeTransport> = {};

/** Events of a {@link Subscription}. */
export interface SubscriptionEvents {
  message: Envelope;
  gap: Envelope;
  status: SubscriptionStatus;
}

/** A live subscription, as {@link subscribe} returns it. */
export interface Subscription {
  /** The cursor after the last message received: store it to resume later with `since`. */
  readonly cursor: string | undefined;
  /** The transport in use (or being tried). */
  readonly transport: SubscribeTransport | undefined;
  /** The current state. */
  readonly state: SubscriptionState;
  /** The subscribed channels; assigning changes them while open (resuming from the cursor). */
  channels: string[];
  /** Changes the channels while open: the connection is renewed from the cursor, nothing is lost. */
  setChannels(channels: string[]): void;
  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof SubscriptionEvents>(event: K, fn: (value: SubscriptionEvents[K]) => void): () => void;
  /** Closes the subscription for good (status `closed`, reason `closed`). */
  close(): void;
}

function checkChannels(c: unknown): string[] {
  const list = typeof c === 'string' ? [c] : c;
  if (!Array.isArray(list) || !list.length || !list.every(isChannelName))
    throw badOption('channels', 'a channel name or a non-empty array of them');
  return list.slice();
}

/**
 * Subscribes to channels on a cometa hub. Tries `transports` in order, falls back fast when one
 * cannot work, reconnects with exponential backoff and jitter, resumes from the cursor every time
 * (duplicates dropped by id) and reports lost history as `gap` events instead of hiding it.
 * @example
 * const sub = subscribe('https://hub.example.com', ['scores.nba', 'scores.nhl'], {
 *   onMessage: (e) => render(e.channel, e.data),
 *   onGap: (e) => reloadScores(e.channel),
 *   onStatus: (s) => badge(s.state),
 * });
 * // later: localStorage.cursor = sub.cursor; sub.close();
 */
export function subscribe(
  hubUrl: string,
  channels: string | string[],
  o: SubscribeOptions = {},
): Subscription {
  let chans = checkChannels(channels);
  const list = o.transports ?? (Object.keys(CONNECT) as SubscribeTransport[]);
  if (!Array.isArray(list) || !list.length || !list.every((t) => CONNECT[t]))
    throw badOption('transports', `a non-empty array of ${Object.keys(CONNECT)}`);
  const hub = hubUrl.replace(/\/+$/, '');
  const L: { [K in keyof SubscriptionEvents]: Array<(v: SubscriptionEvents[K]) => void> } = {
    message: o.onMessage ? [o.onMessage] : [],
    gap: o.onGap ? [o.onGap] : [],
    status: o.onStatus ? [o.onStatus] : [],
  };
  let cursor: string | undefined;
  let epoch = '';
  let seq = -1;
  let state: SubscriptionState = 'connecting';
  let i = Math.max(0, list.indexOf(worked[hub] as SubscribeTransport));
  let transport: SubscribeTransport | undefined;
  /** Identity of the current connection; frames from any other are ignored. */
  let current: object | undefined;
  let stop = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  let better: ReturnType<typeof setTimeout> | undefined;
  let attempts = 0;
  let opened = false;
  let reason: string | undefined;
  /** The open frame's cursor when it could not be taken yet (a `last` start). */
  let held: string | undefined;

  const emit = <K extends keyof SubscriptionEvents>(t: K, v: SubscriptionEvents[K]) => {
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
  const status = (s: SubscriptionState, why?: string) => {
    state = s;
    emit('status', why ? { state: s, transport, reason: why } : { state: s, transport });
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
    }${q}`;

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
      clearTimeout(timer);
      // Remembered only when there was a choice: a transport the caller forced says nothing about
      // which one works best here.
      if (list.length > 1) worked[hub] = transport as SubscribeTransport;
      // On a fallback transport, try the better ones again later (resuming from the cursor).
      if (i) better = setTimeout(() => restart(0), o.retryBetterAfter ?? 120_000);
      if (state !== 'open') status('open');
    }
    if (v.channel != null) {
      if (v.id == null) emit(v.event === 'gap' ? 'gap' : 'message', v as Envelope);
      else if (adopt(v.id)) emit('message', v as Envelope);
    } else {
      // The open frame's cursor is after the replay that follows it: only a fresh start takes it.
      // With `last`, it is held: if the connection ends before any message, resume from it rather
      // than asking for the last N again (which would skip what was published in between).
      if (v.cursor && (v.event !== 'open' || (!cursor && !o.last))) adopt(v.cursor);
      else if (v.event === 'open') held = v.cursor;
      if (v.event === 'close') reason = v.reason;
    }
  };

  const ended = () => {
    halt();
    if (!cursor && held) adopt(held);
    if (reason === 'auth') return close('auth');
    if (!opened) {
      // This transport cannot work here: fall back at once; after the last, back off and start over.
      if (++i < list.length) {
        transport = list[i];
        status('reconnecting', 'failed');
        return connect();
      }
      i = 0;
      return schedule('failed');
    }
    // A recycled stream resumes invisibly.
    if (reason === 'recycle') return connect();
    schedule(reason ?? 'network');
  };

  const schedule = (why: string) => {
    status('reconnecting', why);
    const d = Math.min(o.maxDelay ?? 15_000, (o.minDelay ?? 250) * 2 ** attempts++);
    timer = setTimeout(connect, d / 2 + (Math.random() * d) / 2);
  };

  const connect = () => {
    const me = {};
    current = me;
    transport = list[i] as SubscribeTransport;
    opened = false;
    reason = undefined;
    // The open timeout grows with failed rounds: a slow but working hub (overloaded, far away)
    // must not be abandoned forever just before it answers.
    timer = setTimeout(() => current === me && ended(), (o.openTimeout ?? 4000) * 2 ** Math.min(attempts, 3));
    stop = CONNECT[transport](
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

  const close = (why = 'closed') => {
    if (state === 'closed') return;
    halt();
    status('closed', why);
  };

  const setChannels = (c: string[]) => {
    chans = checkChannels(c);
    if (state !== 'closed') restart(i);
  };

  transport = list[i];
  status('connecting');
  connect();
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
