// The one interface every subscribe transport implements, and the public types of subscribe().
import type { Envelope, GapData } from '../../protocol/envelope.js';
import type { CometaError } from '../errors.js';

/** The subscribe transports, in the default order of preference. */
export type SubscribeTransport = 'websocket' | 'sse' | 'stream' | 'longpoll' | 'jsonp';

/** Where a transport reports what it reads. */
export interface Sink {
  /**
   * One parsed frame: an envelope (has `channel`), a control frame (the start frame, `close`) or,
   * from polls, `{cursor, pcursor?}` after each answer. The first frame of any kind proves the
   * transport works.
   */
  f(frame: Frame): void;
  /** The connection ended (error, hub close, network); the subscription decides what next. */
  x(): void;
}

/** What arrives on the wire, loosely typed: envelopes and control frames share one shape here. */
export type Frame = Partial<Envelope> & { cursor?: string; pcursor?: string | undefined; reason?: string };

/** Builds the subscribe URL with the current cursor and transport-specific query `q`. */
export type UrlFor = (q: string) => string;

/** Opens one connection; returns the function that closes it (after which the sink is ignored). */
export type Connect = (
  url: UrlFor,
  sink: Sink,
  options: { WebSocket?: WebSocketLike | undefined },
) => () => void;

/** The WebSocket constructor shape the client needs (browsers' own, Node 22's global, or `ws`). */
export type WebSocketLike = new (
  url: string,
) => {
  onmessage: ((e: { data: unknown }) => void) | null;
  onclose: (() => void) | null;
  onerror: (() => void) | null;
  close(): void;
};

/**
 * A subscription's state, as `status` events report it: `connecting` → `open` ⇄ `reconnecting`,
 * ending in `closed` (by you, an abort, or the hub's `auth` close) or `failed` (the hub refused the
 * subscription for good, e.g. a malformed cursor, too many channels, 401/403).
 */
export type SubscriptionState = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'failed';

/** A `status` event. */
export interface SubscriptionStatus {
  state: SubscriptionState;
  /** The transport in use, or the one about to be tried. */
  transport: SubscribeTransport | undefined;
  /** The transport whose connection failed or ended, when one did. */
  failed?: SubscribeTransport;
  /**
   * Why: the hub's close reason (`shutdown`, `kicked`, `auth`…); `network` (a working connection
   * ended); `failed` (a transport could not open while the hub answers: the next one is tried);
   * `down` (the hub does not answer at all: retried with backoff, no fallback); `busy` (the hub
   * answered 5xx, 408 or 429); `aborted` (the `signal`); `closed` (by you); for `failed`, the hub's
   * error code (`ERR_BAD_CURSOR`…, or `ERR_HTTP_STATUS` when the answer had none).
   */
  reason?: string;
  /** The error that ended the subscription (state `failed`). */
  error?: CometaError;
}

/** A published message: it always has an id (the cursor after it). */
export type Message<T = unknown> = Envelope<T> & { id: string };

/** Options of {@link subscribe}; `T` is the type of the messages' `data`. */
export interface SubscribeOptions<T = unknown> {
  /** Transports to try, best first. @default ['websocket','sse','stream','longpoll','jsonp'] */
  transports?: readonly SubscribeTransport[] | undefined;
  /** Resume after this cursor (a message id or `sub.cursor` you stored). @default undefined (new messages only) */
  since?: string | null | undefined;
  /** Start with the last N messages of each channel (ignored when `since` is set). @default undefined */
  last?: number | undefined;
  /** Milliseconds a transport has to deliver its first frame before the next one is tried. @default 4000 */
  openTimeout?: number | undefined;
  /** First reconnect delay in ms; doubles per failed attempt, with jitter. @default 250 */
  minDelay?: number | undefined;
  /** Largest reconnect delay in ms. @default 15000 */
  maxDelay?: number | undefined;
  /** After this many ms on a fallback transport, try the better ones again. @default 120000 */
  retryBetterAfter?: number | undefined;
  /** Closes the subscription (status `closed`, reason `aborted`) when it aborts. @default undefined */
  signal?: AbortSignal | undefined;
  /** WebSocket constructor, e.g. `WebSocket` from the `ws` package in Node 20. @default globalThis.WebSocket */
  WebSocket?: WebSocketLike | undefined;
  /** Called for every published message. */
  onMessage?: ((e: Message<T>) => void) | undefined;
  /** Called when messages were lost (history trimmed or the hub lost it). */
  onGap?: ((e: Envelope<GapData>) => void) | undefined;
  /** Called when a channel's history was deleted (`DELETE /pub/{channel}`); `data` is `{channel}`. */
  onDeleted?: ((e: Envelope<{ channel: string }>) => void) | undefined;
  /**
   * Receive `join` / `leave` envelopes on presence channels (docs/presence.md), reported to
   * `onPresence` (and `presence` listeners), not `onMessage`. @default false
   */
  presence?: boolean | undefined;
  /**
   * The name this subscriber is a member by on `presence: 'anonymous'` channels, when it has no
   * token (a token's `sub` names it otherwise). Keep it across reloads (sessionStorage) so a reload
   * is no leave and join. @default undefined
   */
  member?: string | undefined;
  /** Called for every `join` / `leave` (with `presence: true`): `data` is `{member, info?, anonymous?}`. */
  onPresence?: ((e: Envelope<import('./core.js').PresenceData>) => void) | undefined;
  /** Called on every state change. */
  onStatus?: ((s: SubscriptionStatus) => void) | undefined;
  /** Called once when the hub refuses the subscription for good (then state `failed`). */
  onError?: ((e: CometaError) => void) | undefined;
}
