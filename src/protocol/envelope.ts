/**
 * The one JSON envelope every transport carries:
 * `{"id":"EPOCH-SEQ","channel":"scores.nba","event":"message","data":<any JSON>,"time":<ms>}`.
 *
 * Published messages have an `id` (which is also the cursor after them). Channel events the hub
 * emits itself (`gap`, `deleted`) have `id: null` and never move the cursor.
 */
export interface Envelope<T = unknown> {
  id: string | null;
  channel: string;
  event: string;
  data: T;
  time: number;
}

/** Data of a `gap` envelope: messages of `channel` after `since` and before `next` are lost. */
export interface GapData {
  /**
   * `trimmed`: older than the retained history; `epoch`: the hub's history was lost (restart);
   * `deleted`: the channel's history was deleted; `presence`: no messages were lost, but joins and
   * leaves since the poll's `?psince=` were (re-read `GET /presence/{channel}`).
   */
  reason: 'trimmed' | 'epoch' | 'deleted' | 'presence';
  /** The cursor the subscriber asked to resume from. */
  since: string;
  /** Id of the first message delivered after the gap, or null when none is retained yet. */
  next: string | null;
}

/**
 * Control frames of the streaming transports (SSE, NDJSON stream, WebSocket). They have no
 * `channel`, which is how a client tells them from envelopes.
 * - `open`: sent first; `cursor` is where the stream starts (resume from it if nothing arrives).
 * - `close`: sent last when the hub ends the stream itself; `reason` says why; resume from `cursor`.
 */
export interface ControlFrame {
  event: 'open' | 'close';
  cursor: string;
  reason?: CloseReason;
  channels?: string[];
  transport?: string;
}

/** Why the hub ended a stream. The client reconnects with its cursor for all but `auth`. */
export type CloseReason = 'shutdown' | 'recycle' | 'slow-consumer' | 'auth' | 'idle' | 'kicked';

/** The default event name of a published message. */
export const DEFAULT_EVENT = 'message';
/**
 * The SSE `event:` name of the `open` control frame. Not `open`: the EventSource interface owns
 * that name (its own `open` event), so a frame named `open` would fire `onopen` a second time,
 * with a MessageEvent. The frame's JSON still says `"event":"open"`.
 */
export const SSE_OPEN_EVENT = 'cometa.open';
/** Event names the hub uses itself; publishing with them is refused. */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'open',
  'close',
  'gap',
  'deleted',
  'heartbeat',
  'error',
  'join',
  'leave',
  SSE_OPEN_EVENT,
]);
const EVENT_RE = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

/** True when `name` may be used as a published event name. */
export function isPublishableEvent(name: string): boolean {
  return EVENT_RE.test(name) && !RESERVED_EVENTS.has(name);
}

/** A long-poll (and JSONP, and interval poll) answer. */
export interface PollAnswer {
  messages: Envelope[];
  cursor: string;
  /** With `?presence=1`: where the next poll catches up with joins and leaves from (`?psince=`). */
  pcursor?: string;
}
