import type { IncomingMessage } from 'node:http';
import type { HubCore } from '../core.js';
import type { Credentials } from './auth.js';
import { afterAnswersBeforeFailure, afterEarlierAnswers } from './order.js';
import { HubError, rawErrorAnswer } from './respond.js';
import { clientAddress } from './trust-proxy.js';

/**
 * Per-hub limit state: open connections per IP and publish token buckets. Kept off HubCore in a
 * WeakMap so a hub without traffic costs nothing.
 */
interface LimitState {
  total: number;
  perIp: Map<string, number>;
  ipBuckets: Buckets;
  tokenBuckets: Buckets;
  /** Set once the core's sweep knows about these buckets. */
  swept: boolean;
}

/** Most buckets kept per map; beyond it the oldest are evicted (a flood of new keys cannot grow memory). */
export const MAX_BUCKETS = 100_000;

/**
 * Token buckets: `rate` tokens per second, at most `2 × rate` stored (two seconds of burst).
 * Memory is bounded twice: a bucket idle long enough to be full again is deleted by the sweep
 * (it is then the same as no bucket), and the map never holds more than MAX_BUCKETS keys.
 */
export class Buckets {
  readonly #rate: number;
  readonly #capacity: number;
  readonly #map = new Map<string, { tokens: number; at: number }>();

  constructor(ratePerSecond: number) {
    this.#rate = ratePerSecond;
    this.#capacity = Math.max(1, ratePerSecond * 2);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Takes one token; returns 0 when allowed, else the seconds to wait for the next token. */
  take(key: string, now: number): number {
    let b = this.#map.get(key);
    if (b === undefined) {
      if (this.#map.size >= MAX_BUCKETS) this.#map.delete(this.#map.keys().next().value as string);
      b = { tokens: this.#capacity, at: now };
      this.#map.set(key, b);
    } else {
      b.tokens = Math.min(this.#capacity, b.tokens + ((now - b.at) / 1000) * this.#rate);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.#rate));
  }

  /** Deletes every bucket that has refilled completely (equivalent to no bucket at all). */
  sweep(now: number): void {
    const full = (this.#capacity / this.#rate) * 1000;
    for (const [k, b] of this.#map) if (now - b.at >= full) this.#map.delete(k);
  }
}

const states = new WeakMap<HubCore, LimitState>();

function state(core: HubCore): LimitState {
  let s = states.get(core);
  if (s === undefined) {
    const l = core.options.limits;
    s = {
      total: 0,
      perIp: new Map(),
      ipBuckets: new Buckets(l.publishRatePerIp || 1),
      tokenBuckets: new Buckets(l.publishRatePerToken || 1),
      swept: false,
    };
    states.set(core, s);
  }
  if (!s.swept) {
    s.swept = true;
    const st = s;
    let last = 0;
    core.sweepHooks.push((now) => {
      if (now - last < 1000) return;
      last = now;
      st.ipBuckets.sweep(now);
      st.tokenBuckets.sweep(now);
    });
  }
  return s;
}

/**
 * The address a limit is keyed on: the peer's, or behind a proxy listed in `options.trustProxy`
 * the client's as the trusted hops forwarded it (trust-proxy.ts).
 */
export function clientIp(core: HubCore, req: IncomingMessage): string {
  const peer = req.socket?.remoteAddress ?? 'unknown';
  const trusted = core.options.trustedProxy;
  if (trusted === null) return peer;
  const xff = req.headers['x-forwarded-for'];
  return clientAddress(peer, Array.isArray(xff) ? xff.join(',') : xff, trusted);
}

/**
 * Connections counted as a whole, from their accept until they close (`hub.listen()`'s connections
 * from peers that are not trusted proxies: fast-lane.ts): the requests on them are not counted
 * again. Each maps to what {@link releaseSocket} releases.
 */
const counted = new WeakMap<object, { core: HubCore; ip: string }>();
/**
 * Connections accepted over the limits, kept open to be answered: their first request is checked
 * again ({@link admit}) and, if still over the limits, answered 503 with that request's CORS
 * headers (as any 503 of the regular path) and closed. Node's server reads them, each until that
 * answer or `limits.headersTimeoutMs`, and at most {@link MAX_REFUSING} at once: past that a
 * connection over the limits is closed unanswered.
 */
const pending = new WeakMap<object, string>();
let pendingCount = 0;
/** Most connections accepted over the limits kept open at once to be answered (the rest are closed at once). */
export const MAX_REFUSING = 1024;

/**
 * Counts a connection under `ip` against `limits.maxConnections` and `maxConnectionsPerIp` until it
 * closes: its requests then count as part of it. Returns 'counted'; 'pending' when over the limits
 * (Node's server reads it, and its first request is admitted or refused then); 'drop' when over
 * the limits and {@link MAX_REFUSING} connections are pending already (close it unanswered).
 */
export function admitSocket(
  core: HubCore,
  socket: import('node:net').Socket,
  ip: string,
): 'counted' | 'pending' | 'drop' {
  if (admitIp(core, ip, false)) {
    count(core, socket, ip);
    return 'counted';
  }
  if (pendingCount >= MAX_REFUSING) {
    core.stats.connectionsRefused++;
    return 'drop';
  }
  pendingCount++;
  pending.set(socket, ip);
  socket.once('close', unpend);
  return 'pending';
}

function count(
  core: HubCore,
  socket: object & { once(e: 'close', f: () => void): unknown },
  ip: string,
): void {
  counted.set(socket, { core, ip });
  socket.once('close', releaseSocket);
}

function releaseSocket(this: object): void {
  const c = counted.get(this);
  if (c === undefined) return;
  counted.delete(this);
  releaseIp(c.core, c.ip);
}

function unpend(this: object): void {
  if (pending.delete(this)) pendingCount--;
}

const NOTHING = (): void => {};

/**
 * Admits one request or upgrade under `limits.maxConnections` and `limits.maxConnectionsPerIp`,
 * counting it until `release` is called (when its response or socket closes). Throws 503
 * `ERR_TOO_MANY_CONNECTIONS` otherwise. Long-polls and streams are what these limits bound: they
 * are the requests that stay open. On a connection counted as a whole ({@link admitSocket}) the
 * request is part of it and nothing more is counted; one accepted over the limits is counted as a
 * whole from its first request if there is room by then, else that request is refused.
 */
export function admit(core: HubCore, req: IncomingMessage): () => void {
  const socket = req.socket;
  if (socket !== null && socket !== undefined) {
    if (counted.has(socket)) return NOTHING;
    const ip = pending.get(socket);
    if (ip !== undefined) {
      // Accepted over the limits: counted as a whole from now on if they have room now (throws if not).
      admitIp(core, ip);
      pending.delete(socket);
      pendingCount--;
      count(core, socket, ip);
      return NOTHING;
    }
  }
  const ip = clientIp(core, req);
  admitIp(core, ip);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    releaseIp(core, ip);
  };
}

/**
 * {@link admit} for a peer address, without a release closure: the caller calls
 * {@link releaseIp} exactly once (the publish fast lane, around one exchange). Over the limits it
 * throws the 503 and counts the refusal, or with `refuse` false returns false and counts nothing.
 */
export function admitIp(core: HubCore, ip: string, refuse = true): boolean {
  const l = core.options.limits;
  const s = state(core);
  const mine = s.perIp.get(ip) ?? 0;
  const full =
    l.maxConnections !== 0 && s.total >= l.maxConnections
      ? 'the hub is at its connection limit; retry later'
      : l.maxConnectionsPerIp !== 0 && mine >= l.maxConnectionsPerIp
        ? 'too many connections from this address'
        : null;
  if (full !== null) {
    if (!refuse) return false;
    core.stats.connectionsRefused++;
    throw tooMany(full);
  }
  s.total++;
  s.perIp.set(ip, mine + 1);
  return true;
}

function tooMany(message: string): HubError {
  return new HubError('ERR_TOO_MANY_CONNECTIONS', message, { 'Retry-After': '5' });
}

/** Ends what {@link admitIp} counted. */
export function releaseIp(core: HubCore, ip: string): void {
  const s = state(core);
  s.total--;
  const n = (s.perIp.get(ip) ?? 1) - 1;
  if (n <= 0) s.perIp.delete(ip);
  else s.perIp.set(ip, n);
}

/** Open connections counted by {@link admit} (total, and the number of distinct IPs). */
export function connectionCounts(core: HubCore): { total: number; ips: number } {
  const s = state(core);
  return { total: s.total, ips: s.perIp.size };
}

/** Sizes of the rate-limit bucket maps (for tests and metrics: they must stay bounded). */
export function bucketCounts(core: HubCore): { ip: number; token: number } {
  const s = state(core);
  return { ip: s.ipBuckets.size, token: s.tokenBuckets.size };
}

/**
 * One publish under `limits.publishRatePerIp` and (with a token) `limits.publishRatePerToken`.
 * Throws 429 `ERR_RATE_LIMITED` with `Retry-After`.
 */
export function checkPublishRate(core: HubCore, ip: string, creds: Credentials): void {
  const l = core.options.limits;
  const s = state(core);
  const now = Date.now();
  let wait = 0;
  if (l.publishRatePerToken !== 0 && creds.claims !== null) {
    // Keyed on the subject when the token has one (all of a user's tokens share a bucket).
    const key = creds.claims.subject ?? `jti:${String(creds.claims.payload.jti ?? creds.claims.expiresAt)}`;
    wait = s.tokenBuckets.take(key, now);
  }
  if (wait === 0 && l.publishRatePerIp !== 0) wait = s.ipBuckets.take(ip, now);
  if (wait !== 0) {
    core.stats.rateLimited++;
    throw new HubError('ERR_RATE_LIMITED', `too many publishes; retry in ${wait} s`, {
      'Retry-After': String(wait),
    });
  }
}

/**
 * Whether an anonymous presence member (a `?member=` name, no credential) may join from `ip` now.
 * A join is an event every watcher of the channel gets, as a publish is, and a new name costs
 * nothing to make up, so it takes a token of the IP's publish bucket (`limits.publishRatePerIp`);
 * without one the subscriber subscribes but is no member.
 */
export function takeAnonymousJoin(core: HubCore, ip: string): boolean {
  if (core.options.limits.publishRatePerIp === 0) return true;
  if (state(core).ipBuckets.take(ip, Date.now()) === 0) return true;
  core.stats.rateLimited++;
  return false;
}

/**
 * Answers what Node's HTTP parser refused before any handler ran (`clientError`), as a cometa
 * JSON error instead of Node's bare status line: 431 for a head over `limits.maxHeaderBytes`,
 * 408 for a head slower than `limits.headersTimeoutMs` or a request (head and body) slower than
 * `limits.requestTimeoutMs`, 400 for anything that is not HTTP.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  // Pipelined behind requests still being answered: the refusal goes after their answers, or a
  // client would read it as the answer to an earlier request (a stored publish, say) (order.ts).
  // Every earlier answer of the lane is complete: it writes them whole before it hands a
  // connection over.
  afterAnswersBeforeFailure(socket, () => {
    // A response already begun (the failing request's own, answered before its body ended) cannot
    // be followed by a refusal: the bytes would corrupt it. Node's own handler closes then too.
    const inFlight = (socket as { _httpMessage?: { headersSent: boolean } | null })._httpMessage;
    if (socket.writable && inFlight?.headersSent !== true) refuseUnparsable(err, socket);
    else socket.destroy();
  });
}

/** The JSON refusal of a request Node's parser could not read; the connection closes after it. */
function refuseUnparsable(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  let status = 400;
  let code = 'ERR_BAD_REQUEST';
  let message = 'the request is not valid HTTP/1.1';
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    code = 'ERR_HEADERS_TOO_LARGE';
    message = 'the request head is larger than limits.maxHeaderBytes';
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    code = 'ERR_REQUEST_TIMEOUT';
    message =
      'the request was not received in time (head: limits.headersTimeoutMs, head and body: limits.requestTimeoutMs)';
  }
  socket.end(rawErrorAnswer(status, code, message), () => socket.destroy());
}

/** `CONNECT` (proxy tunnels) is not something a hub does: 405 as JSON instead of Node's silent reset. */
export function answerConnect(_req: IncomingMessage, socket: import('node:stream').Duplex): void {
  socket.on('error', () => socket.destroy());
  // Pipelined behind requests still being answered: after their answers (order.ts).
  afterEarlierAnswers(socket, () => refuseConnect(socket));
}

function refuseConnect(socket: import('node:stream').Duplex): void {
  socket.end(
    rawErrorAnswer(405, 'ERR_METHOD_NOT_ALLOWED', 'CONNECT is not allowed on this hub', {
      Allow: 'GET, HEAD, POST, DELETE, OPTIONS',
    }),
    () => socket.destroy(),
  );
}
