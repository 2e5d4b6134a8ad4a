import type { Socket } from 'node:net';
import type { HubCore } from '../core.js';
import { JSON_TYPE, PollSubscriber } from '../transports/poll-base.js';
import type { Start } from '../transports/transport.js';
import { subscribeNeedsCredentials } from './auth.js';
import { errorAnswer } from './respond.js';
import { parseSubscribe } from './subscribe.js';

/**
 * The poll side of the fast lane (fast-lane.ts holds the connections): a plain long-poll or
 * interval poll, `GET {prefix}/sub/{channels}?since=…`, answered and held without Node's HTTP
 * parser, IncomingMessage and ServerResponse. A held long-poll then costs its socket and one
 * subscriber object (4.7-5.3 KB against 10.5-11.2), and a round trip with a message waiting about
 * 30% less hub CPU (docs/operations.md, "Long-polls in the lane").
 *
 * As narrow as the publish lane: the target is visible ASCII with only `since`, `last`,
 * `timeout`, `mode=poll` and `transport=longpoll` in the query (each at most once), the channels
 * need no credentials, there is no Last-Event-ID and no body; an `Accept: text/event-stream`
 * without `?transport=` (that is SSE) goes to Node. An Origin is taken: the answer carries the
 * CORS headers the regular path computes for it (a GET subscribe is not state-changing, so the
 * Origin decides only those headers). So does
 * every request the regular path would refuse: the lane answers only what it can answer exactly
 * as the regular path does, and an error only when it arises after the lane took the request
 * (connection limits, a store that cannot be read).
 */

/** Request headers a poll may carry besides the publish lane's (fast-lane.ts, ALLOWED). */
export const POLL_HEADERS: ReadonlySet<string> = new Set([
  // Browsers send these with every fetch; none changes an HTTP subscription to channels that
  // need no credentials (guardSubscribe() then reads no cookie). The Origin only picks the CORS
  // headers (FastLane.parse()).
  'origin',
  'cookie',
  'referer',
  'dnt',
  'sec-ch-ua',
  'sec-ch-ua-mobile',
  'sec-ch-ua-platform',
]);

const QUERY_KEYS = new Set(['since', 'last', 'timeout', 'mode', 'transport']);
const VISIBLE = /^[\x21-\x7e]+$/;
/** Parses no header: the lane takes no Last-Event-ID (the one header parseSubscribe() reads). */
const NO_HEADERS = { headers: {} };

/** A poll the lane will answer. */
export interface PollRequest {
  readonly channels: string[];
  readonly start: Start;
  readonly timeoutMs: number;
  /** Interval poll (`mode=poll`): answered at once, even with nothing. */
  readonly immediate: boolean;
  readonly close: boolean;
  /** The answer's CORS headers (those of the request's Origin, as on the regular path). */
  readonly headers: Record<string, string>;
}

/**
 * Reads a poll's request target (what follows `GET {prefix}/sub/`), or null when it is not one
 * the lane takes. `accept` is the Accept header, if any; `headers` the answer's CORS headers.
 */
export function parsePollTarget(
  core: HubCore,
  target: string,
  accept: string | undefined,
  close: boolean,
  headers: Record<string, string>,
): PollRequest | null {
  if (!VISIBLE.test(target)) return null;
  const q = target.indexOf('?');
  const rest = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : target.slice(q + 1));
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (!QUERY_KEYS.has(key) || seen.has(key)) return null;
    seen.add(key);
  }
  const transport = query.get('transport');
  if (transport !== null && transport !== 'longpoll') return null;
  if (transport === null && accept?.includes('text/event-stream')) return null;
  const mode = query.get('mode');
  if (mode !== null && mode !== 'poll') return null;
  let params: ReturnType<typeof parseSubscribe>;
  try {
    params = parseSubscribe(core.options, NO_HEADERS, rest, query);
  } catch {
    return null; // Node's path answers the 400
  }
  if (subscribeNeedsCredentials(core, params.channels)) return null;
  return {
    channels: params.channels,
    start: params.start,
    timeoutMs: params.timeoutMs,
    immediate: mode === 'poll',
    close,
    headers,
  };
}

/** A connection of the lane, as the poll side sees it. */
export interface PollLane {
  readonly socket: Socket;
  /** The poll held on this connection, until it is answered or the connection closes. */
  poll: LanePollSubscriber | undefined;
}

/** What the poll side needs from the lane. */
export interface PollLaneOwner {
  readonly core: HubCore;
  /** Counts the poll against the connection limits until its answer; throws the limit's HubError. */
  admit(lane: PollLane): void;
  /** Answers the request in flight on `lane`, then goes on with the connection. */
  reply(
    lane: PollLane,
    status: number,
    headers: Record<string, string>,
    type: string,
    body: Buffer | string,
  ): void;
}

/** A poll held on a lane connection: its answer is written as raw bytes by the lane. */
export class LanePollSubscriber extends PollSubscriber {
  readonly lane: PollLane;
  readonly owner: PollLaneOwner;

  constructor(owner: PollLaneOwner, lane: PollLane, r: PollRequest) {
    super(owner.core, r.channels, r.immediate ? 'poll' : 'longpoll', r.timeoutMs, r.headers, r.immediate);
    this.owner = owner;
    this.lane = lane;
  }

  protected unsent(): number {
    return this.lane.socket.writableLength;
  }

  protected drop(): void {
    this.lane.socket.destroy();
  }

  protected write(type: string, payload: Buffer | string): void {
    const lane = this.lane;
    if (lane.poll !== this) return;
    lane.poll = undefined;
    if (!lane.socket.destroyed) this.owner.reply(lane, 200, this.headers, type, payload);
  }
}

/** Takes a parsed poll on `lane`: admits the connection, attaches the subscriber, answers failures. */
export function startPoll(owner: PollLaneOwner, lane: PollLane, r: PollRequest): void {
  const core = owner.core;
  core.stats.fastPolls++;
  try {
    owner.admit(lane);
  } catch (err) {
    replyError(owner, lane, err, r.headers);
    return;
  }
  const sub = new LanePollSubscriber(owner, lane, r);
  lane.poll = sub;
  core.attach(sub, r.start).catch((err: unknown) => {
    sub.detach();
    if (lane.poll !== sub) return;
    lane.poll = undefined;
    replyError(owner, lane, err, r.headers);
  });
}

/** Answers the request in flight with a cometa error body, as the regular path's fail() does. */
function replyError(owner: PollLaneOwner, lane: PollLane, err: unknown, cors: Record<string, string>): void {
  const a = errorAnswer(owner.core, err, cors);
  owner.reply(lane, a.status, a.headers, JSON_TYPE, a.body);
}
