// The one interface every subscribe transport implements; transports are looked up by name.
import type { Envelope } from '../../protocol/envelope.js';

/** The subscribe transports, in the default order of preference. */
export type SubscribeTransport = 'websocket' | 'sse' | 'stream' | 'longpoll' | 'jsonp';

/** Where a transport reports what it reads. */
export interface Sink {
  /**
   * One parsed frame: an envelope (has `channel`), a control frame (`open`/`close`) or, from
   * polls, `{cursor}` after each answer. The first frame of any kind proves the transport works.
   */
  f(frame: Frame): void;
  /** The connection ended (error, hub close, network); the subscription decides what next. */
  x(): void;
}

/** What arrives on the wire, loosely typed: envelopes and control frames share one shape here. */
export type Frame = Partial<Envelope> & { cursor?: string; reason?: string };

/** Builds the subscribe URL with the current cursor and transport-specific query `q`. */
export type UrlFor = (q: string) => string;

/** Opens one connection; returns the function that closes it (after which the sink is ignored). */
export type Connect = (url: UrlFor, sink: Sink, options: SubscribeOptions) => () => void;

/** The WebSocket constructor shape the client needs (browsers' own, Node 22's global, or `ws`). */
export type WebSocketLike = new (
  url: string,
) => {
  onmessage: ((e: { data: unknown }) => void) | null;
  onclose: (() => void) | null;
  onerror: (() => void) | null;
  close(): void;
};

/** A subscription's state, as `status` events report it. */
export type SubscriptionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A `status` event. */
export interface SubscriptionStatus {
  state: SubscriptionState;
  /** The transport in use (or about to be tried). */
  transport: SubscribeTransport | undefined;
  /** Why: the hub's close reason (`shutdown`, `kicked`, `auth`…), `failed` (a transport never opened), `closed` (by you). */
  reason?: string;
}

/** Options of {@link subscribe}. */
export interface SubscribeOptions {
  /** Transports to try, best first. @default ['websocket','sse','stream','longpoll','jsonp'] */
  transports?: SubscribeTransport[];
  /** Resume after this cursor (a message id you stored). @default undefined (new messages only) */
  since?: string;
  /** Start with the last N messages of each channel (ignored when `since` is set). @default undefined */
  last?: number;
  /** Milliseconds a transport has to deliver its first frame before the next one is tried. @default 4000 */
  openTimeout?: number;
  /** First reconnect delay in ms; doubles per failed attempt, with jitter. @default 250 */
  minDelay?: number;
  /** Largest reconnect delay in ms. @default 15000 */
  maxDelay?: number;
  /** After this many ms on a fallback transport, try the better ones again. @default 120000 */
  retryBetterAfter?: number;
  /** WebSocket constructor, e.g. `WebSocket` from the `ws` package in Node 20. @default globalThis.WebSocket */
  WebSocket?: WebSocketLike;
  /** Called for every message (and `deleted` event). */
  onMessage?: (e: Envelope) => void;
  /**
   * Receive `join` / `leave` envelopes on presence channels (docs/presence.md), reported to
   * `onPresence` (and `presence` listeners), not `onMessage`. @default false
   */
  presence?: boolean;
  /**
   * The name this subscriber is a member by on `presence: 'anonymous'` channels, when it has no
   * token (a token's `sub` names it otherwise). Keep it across reloads (sessionStorage) so a reload
   * is no leave and join. @default undefined
   */
  member?: string;
  /** Called for every `join` / `leave` (with `presence: true`): `data` is `{member, info?, anonymous?}`. */
  onPresence?: (e: Envelope) => void;
  /** Called when messages were lost (history trimmed or the hub lost it): `data` is a GapData. */
  onGap?: (e: Envelope) => void;
  /** Called on every state change. */
  onStatus?: (s: SubscriptionStatus) => void;
}
