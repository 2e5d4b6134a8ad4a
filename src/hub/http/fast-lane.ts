import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { isChannelName } from '../../protocol/channel.js';
import type { HubCore } from '../core.js';
import { NONE, publishNeedsCredentials } from './auth.js';
import { parsePublishBody, parsePublishBodyNow } from './body.js';
import { compileOrigins, responseCors } from './cors.js';
import {
  type LanePollSubscriber,
  POLL_HEADERS,
  type PollLane,
  type PollLaneOwner,
  type PollRequest,
  parsePollTarget,
  startPoll,
} from './fast-poll.js';
import { isHostValue } from './host.js';
import { admitIp, admitSocket, answerClientError, checkPublishRate, releaseIp } from './limits.js';
import { bodyHeaders, errorAnswer } from './respond.js';
import { adopt, isShared, pauseAccepted, pushRead, release } from './shared-read.js';
import { clientAddress, type TrustedProxy } from './trust-proxy.js';

/**
 * The fast lane: the connections of `hub.listen()`'s server are read here first. This file holds
 * the lane itself (connections, pipelining, timeouts, handover to Node) and its publishes;
 * fast-poll.ts its long-polls and interval polls (option `fastPoll`).
 *
 * Publishes: `POST {prefix}/pub/{channel}` answered straight from the connection's
 * bytes, without Node's HTTP parser, IncomingMessage and ServerResponse. Publishing is the hub's
 * busiest request and Node's HTTP machinery costs more than the publish itself (bench/README.md,
 * the `node-http` and `node-net` floors), so `hub.listen()` puts this in front of its server.
 *
 * It is strict and narrow on purpose. It takes a request only when every byte is what it expects:
 * an HTTP/1.1 request line with a plain channel name and no query, CRLF line ends, a header set
 * from a short allowlist, each at most once, and a Content-Length body within `limits`. It never
 * takes a request that needs credentials, carries an Origin, a Cookie, Transfer-Encoding or
 * Expect, or arrives while the hub is not ready; it takes `X-Forwarded-For`/`-Proto` only from a
 * peer listed in `trustProxy`. A bare LF or CR is handed over as soon as it arrives: the lane never
 * waits for a CRLF that may not come. Anything else, at the start of a connection or
 * after any number of fast publishes, is handed to Node's HTTP server with the bytes not yet
 * answered, and the connection is Node's from then on (what Node itself would answer, including
 * its refusals of malformed or smuggling-shaped requests, is unchanged). A publish taken here is
 * admitted, rate-limited, parsed, stored and answered exactly as on the regular path.
 *
 * Held connections are bounded: every connection counts against `limits.maxConnections` and
 * `maxConnectionsPerIp` under its address from its accept until it closes, here and after a
 * handover (one over the limits is answered 503 at its first request, by Node's server, and
 * closed); a head must arrive within `limits.headersTimeoutMs`, a whole request within
 * `limits.requestTimeoutMs`, and a next request on an idle connection within
 * `limits.keepAliveTimeoutMs`, the deadlines of Node's server. A connection from a trusted proxy
 * carries many clients: it counts each request instead, from its complete head to its answer,
 * under the client address the proxy forwards (a publish whose body has yet to come counts while it
 * waits; one over the limits is answered 503 and the connection closed at once).
 */

/** Headers the lane also takes from a trusted proxy (`trustProxy`). */
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto']);

/** Request headers the lane understands; any other header hands the request to Node. */
const ALLOWED = new Set([
  'host',
  'content-length',
  'content-type',
  'connection',
  'accept',
  'accept-encoding',
  'accept-language',
  'user-agent',
  'sec-fetch-mode',
  'sec-fetch-site',
  'sec-fetch-dest',
  'pragma',
  'cache-control',
  'priority',
]);
const PLAIN_CHANNEL = /^[A-Za-z0-9_~:.-]+$/;

/** Whether `text` begins with `start`, or is the beginning of it (a request still arriving). */
function prefixOf(text: string, start: string | null): start is string {
  if (start === null) return false;
  return text.length >= start.length ? text.startsWith(start) : start.startsWith(text);
}

/** The lowercased header name in `text[from, to)`; common spellings without a new lowercased string. */
function headerName(text: string, from: number, to: number): string {
  const name = text.slice(from, to);
  const known = KNOWN_NAMES.get(name);
  return known ?? name.toLowerCase();
}

/** Header names as clients usually spell them, lowercased. */
const KNOWN_NAMES = new Map(
  ['Host', 'Content-Length', 'Content-Type', 'Connection', 'Accept', 'User-Agent', 'Origin'].map((n) => [
    n,
    n.toLowerCase(),
  ]),
);

/** The decimal number in `text[from, to)`, 1 to 9 digits; -1 for anything else. */
function digits(text: string, from: number, to: number): number {
  if (to - from < 1 || to - from > 9) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/** What the lane needs from the hub. */
export interface FastLaneHost {
  core: HubCore;
  /** Stores a publish: its id, at once when the store stores synchronously, else a promise of it. */
  publish(channel: string, data: unknown): string | Promise<string>;
  /** Whether the hub is ready (store open) and not closing. */
  ready(): boolean;
}

/** A parsed publish the lane will answer. */
interface FastRequest {
  channel: string;
  contentType: string | undefined;
  body: Buffer;
  close: boolean;
  /** The address it counts under (the client's, from a trusted proxy). */
  ip: string;
}

/** A parsed poll the lane will answer (fast-poll.ts), and where its request ends in the buffer. */
interface FastPoll {
  poll: PollRequest;
  end: number;
  ip: string;
}

/**
 * An incomplete request: how many bytes to wait for, and whether its head is still incomplete
 * (else the address the request counts under while its body arrives).
 */
type More = { need: number; inHead: true } | { need: number; inHead: false; ip: string };

/** `node`: hand the connection to Node. */
type Parsed = FastRequest | FastPoll | More | 'node';

/** The lane state of each connection it holds (a WeakMap: no property added to Node's sockets). */
const lanes = new WeakMap<Socket, Lane>();
/** Connections from a trusted proxy handed over to Node: closed after each answer (see the constructor). */
const proxied = new WeakSet<object>();

/** The lane of one hub server: its settings, computed once, and its open connections. */
export class FastLane implements PollLaneOwner {
  readonly #host: FastLaneHost;
  readonly #server: Server;
  readonly #nodeListeners: Array<(socket: Socket) => void>;
  /** `POST {prefix}/pub/` when publishes are taken (option fastPublish), else null. */
  readonly #start: string | null;
  /** `GET {prefix}/sub/` when polls are taken (option fastPoll), else null. */
  readonly #getStart: string | null;
  readonly #prefix: string;
  /** The CORS headers of a request without Origin (every publish answer carries them). */
  readonly #fixedHeaders: Record<string, string>;
  /** The hub's CORS origin check, for the Origin of a poll. */
  readonly #allowed: (origin: string) => boolean;
  readonly #keepAlive: string;
  /** The 202 answer's head around its two variable values: [before the id, before the length, after]. */
  readonly #ok: readonly [string, string, string];
  /** A poll's 200 JSON answer head without Origin, around its Content-Length. */
  readonly #pollOk: readonly [string, string];
  readonly sockets = new Set<Socket>();
  readonly #headersTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #trusted: TrustedProxy | null;
  /** Bytes a connection may have waiting while its request is answered before it is not read. */
  readonly maxWaiting: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #sweeper: NodeJS.Timeout;
  /** Answers waiting for this turn's flush: lane, text, lane, text... (no object per answer). */
  #answers: Array<Lane | string> = [];
  /** A check-phase flush is scheduled (see expect()). */
  #turnPending = false;
  #tickPending = false;
  closing = false;

  constructor(server: Server, host: FastLaneHost) {
    this.#host = host;
    this.#server = server;
    const o = host.core.options;
    this.#prefix = `${o.prefix}/pub/`;
    this.#headersTimeoutMs = o.limits.headersTimeoutMs;
    this.#requestTimeoutMs = o.limits.requestTimeoutMs;
    this.#trusted = o.trustedProxy;
    this.maxWaiting = o.limits.maxHeaderBytes;
    this.#keepAliveTimeoutMs = o.limits.keepAliveTimeoutMs;
    // One timer for every lane connection: a socket timer per connection would stay behind (as a
    // cleared Timeout object) on every subscriber connection the lane hands over.
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
    this.#sweeper.unref();
    this.#start = o.fastPublish ? `POST ${this.#prefix}` : null;
    this.#getStart = o.fastPoll ? `GET ${o.prefix}/sub/` : null;
    // The CORS headers of a request without Origin do not depend on the request.
    this.#fixedHeaders = responseCors(o.cors, () => false, undefined);
    this.#allowed = compileOrigins(o.cors);
    this.#keepAlive = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(o.limits.keepAliveTimeoutMs / 1000)}\r\n\r\n`;
    this.#ok = okHead(this.#fixedHeaders);
    this.#pollOk = lengthHead(200, this.#fixedHeaders, JSON_TYPE);
    // Node's own 'connection' listener (the HTTP server's) gets every connection the lane gives up.
    this.#nodeListeners = server.listeners('connection') as Array<(socket: Socket) => void>;
    server.removeAllListeners('connection');
    // Connections arrive unread, so that adopt() reads them into the shared buffer from the start.
    pauseAccepted(server);
    server.on('connection', (socket: Socket) => this.#accept(socket));
    // A trusted proxy pools its connections to the hub (nginx's `keepalive`): one stream, page or
    // cookie-carrying publish would make a pooled connection Node's for good, and the lane would
    // see fewer and fewer of the proxy's requests. So a proxy connection the lane handed over
    // closes after its answer, and the proxy's next request comes on a new one, read by the lane.
    if (this.#trusted !== null) {
      server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
        if (proxied.has(req.socket)) res.shouldKeepAlive = false;
      });
    }
  }

  get core(): HubCore {
    return this.#host.core;
  }

  #accept(accepted: Socket): void {
    const peer = accepted.remoteAddress ?? 'unknown';
    const trusted = this.#trusted?.(peer) === true;
    // Every connection counts against the connection limits from its accept until it closes, on
    // the lane and after a handover (limits.ts): an idle one, one whose head is still arriving
    // and one whose body never comes hold a descriptor as much as a stream does. A trusted
    // proxy's connection carries many clients: its requests are counted instead, one by one.
    if (!trusted) {
      const admitted = admitSocket(this.#host.core, accepted, peer);
      if (admitted === 'drop') {
        accepted.destroy();
        return;
      }
      if (admitted === 'pending') {
        // Over the limits: Node's server reads it; its first request is admitted if there is room
        // by then, else answered 503 (with that request's CORS headers) and the connection closed.
        for (const l of this.#nodeListeners) l.call(this.#server, accepted);
        accepted.resume();
        return;
      }
    }
    const socket = adopt(accepted, onRead);
    lanes.set(socket, new Lane(this, socket, peer, trusted));
    this.sockets.add(socket);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('end', onEnd);
  }

  /** Gives a connection, with its unanswered bytes, to Node's HTTP server. */
  handOver(lane: Lane): void {
    const socket = lane.socket;
    // After the peer's FIN a stream cannot take bytes back: a request the lane does not take on a
    // half-closed connection is refused as Node refuses a request cut short by a FIN.
    if (lane.ended) {
      lane.finish();
      return;
    }
    const rest = lane.takeAll();
    if (lane.trusted) proxied.add(socket);
    lanes.delete(socket);
    this.release(lane);
    this.sockets.delete(socket);
    release(socket, onRead);
    socket.removeListener('close', onClose);
    socket.removeListener('end', onEnd);
    socket.pause();
    if (rest !== null) socket.unshift(isShared(rest) ? Buffer.from(rest) : rest);
    for (const l of this.#nodeListeners) l.call(this.#server, socket);
    // Node's listener has its own 'error' handler now.
    socket.removeListener('error', onError);
    socket.resume();
  }

  /**
   * Parses the request at the start of `buf` (see the file's comment, and fast-poll.ts). It scans
   * the head as latin1 text (one character per byte, so its offsets are the buffer's) with string
   * searches and character loops: no Buffer call per test, no string per header but the values it
   * keeps (a Buffer-and-regex version cost 1.36 µs per publish head, commit 8751c80).
   */
  parse(buf: Buffer, lane: Lane): Parsed {
    const limits = this.#host.core.options.limits;
    const scan = buf.toString('latin1', 0, Math.min(buf.length, limits.maxHeaderBytes + 4));
    const start = prefixOf(scan, this.#start)
      ? this.#start
      : prefixOf(scan, this.#getStart)
        ? this.#getStart
        : null;
    if (start === null) return 'node';
    const post = start === this.#start;
    const headEnd = scan.indexOf('\r\n\r\n');
    if (headEnd === -1) {
      // A bare LF or CR will never make the CRLF CRLF waited for: Node's parser decides at once.
      if (buf.length > limits.maxHeaderBytes || bareLineEnd(scan)) return 'node';
      return { need: buf.length + 1, inHead: true };
    }
    if (headEnd > limits.maxHeaderBytes) return 'node';
    let eol = scan.indexOf('\r\n');
    if (eol < start.length + 9 || !scan.startsWith(' HTTP/1.1', eol - 9)) return 'node';
    const target = scan.slice(start.length, eol - 9);
    if (post && (!PLAIN_CHANNEL.test(target) || !isChannelName(target))) return 'node';
    let host = false;
    let length = -1;
    let contentType: string | undefined;
    let accept: string | undefined;
    let origin: string | undefined;
    let close = false;
    let connection = false;
    let forwardedFor: string | undefined;
    let forwardedProto = false;
    // Each header line: [from, to) up to its CRLF; the last one's CRLF begins the blank line.
    while (eol < headEnd) {
      const from = eol + 2;
      eol = scan.indexOf('\r\n', from);
      const to = eol;
      const colon = scan.indexOf(':', from);
      if (colon <= from || colon >= to) return 'node';
      // Only names on the list are taken, and each of those is a token: the lowercased name of
      // anything else (latin1 letters lowercase to latin1 letters, never to ASCII) is not on it.
      const lower = headerName(scan, from, colon);
      if (
        !ALLOWED.has(lower) &&
        (post || !POLL_HEADERS.has(lower)) &&
        !(lane.trusted && FORWARDED.has(lower))
      )
        return 'node';
      // The value without the optional whitespace around it (SP and HTAB only, RFC 9110 §5.6.3),
      // and with no control character (other than tab) in it.
      let v0 = colon + 1;
      let v1 = to;
      while (v0 < v1 && isOws(scan.charCodeAt(v0))) v0++;
      while (v1 > v0 && isOws(scan.charCodeAt(v1 - 1))) v1--;
      for (let i = v0; i < v1; i++) {
        const c = scan.charCodeAt(i);
        if ((c < 32 && c !== 9) || c === 127) return 'node';
      }
      if (lower === 'host') {
        // A Host that is not a host is Node's to refuse (host.ts).
        if (host || !isHostValue(scan, v0, v1)) return 'node';
        host = true;
      } else if (lower === 'content-length') {
        if (length !== -1) return 'node';
        length = digits(scan, v0, v1);
        if (length === -1) return 'node';
      } else if (lower === 'content-type') {
        if (contentType !== undefined) return 'node';
        contentType = scan.slice(v0, v1);
      } else if (lower === 'accept') {
        if (accept !== undefined) return 'node';
        accept = scan.slice(v0, v1);
      } else if (lower === 'origin') {
        if (origin !== undefined) return 'node';
        origin = scan.slice(v0, v1);
      } else if (lower === 'x-forwarded-for') {
        if (forwardedFor !== undefined) return 'node';
        forwardedFor = scan.slice(v0, v1);
      } else if (lower === 'x-forwarded-proto') {
        if (forwardedProto) return 'node';
        forwardedProto = true;
      } else if (lower === 'connection') {
        const v = scan.slice(v0, v1).toLowerCase();
        if (connection || (v !== 'keep-alive' && v !== 'close')) return 'node';
        connection = true;
        close = v === 'close';
      }
    }
    if (!host) return 'node';
    const ip = lane.trusted ? clientAddress(lane.peer, forwardedFor, this.#trusted) : lane.peer;
    if (!post) {
      // A poll has no body.
      if (length > 0) return 'node';
      if (!this.#host.ready() || this.closing) return 'node';
      const cors =
        origin === undefined
          ? this.#fixedHeaders
          : responseCors(this.#host.core.options.cors, this.#allowed, origin);
      const poll = parsePollTarget(this.#host.core, target, accept, close, cors);
      return poll === null ? 'node' : { poll, end: headEnd + 4, ip };
    }
    if (length === -1 || length > limits.maxBodyBytes) return 'node';
    const bodyStart = headEnd + 4;
    if (buf.length < bodyStart + length) return { need: bodyStart + length, inHead: false, ip };
    // The state checks come last: they may change while a request is being read.
    if (!this.#host.ready() || this.closing || publishNeedsCredentials(this.#host.core, target))
      return 'node';
    return { channel: target, contentType, body: buf.subarray(bodyStart, bodyStart + length), close, ip };
  }

  /**
   * Publishes one request and builds its answer, as the regular path would; the answer is written
   * by {@link answer} (queued, then written with the turn's other answers). The answer's head comes
   * at once when the body parses and the store stores without a promise (the memory store), else
   * as a promise: a promise per publish costs a measurable share of a fast publish.
   */
  exchange(lane: Lane, r: FastRequest): string | Promise<string> {
    const core = this.#host.core;
    core.stats.fastPublishes++;
    try {
      // Counted already when its body had to be waited for (admitBody()).
      this.#admit(lane);
      checkPublishRate(core, lane.ip, NONE);
      // JSON, text and forms are parsed without a promise; multipart has an asynchronous parser.
      const data = parsePublishBodyNow(r.body, r.contentType, core.options.limits);
      // The asynchronous parser keeps the body past this read: a copy of the shared read buffer.
      if (data === undefined)
        return this.#exchangeMultipart(lane, r.channel, Buffer.from(r.body), r.contentType);
      const id = this.#host.publish(r.channel, data);
      if (typeof id === 'string') return this.#accepted(lane, r.channel, id);
      return id.then(
        (i) => this.#accepted(lane, r.channel, i),
        (err: unknown) => this.#failed(lane, err),
      );
    } catch (err) {
      return this.#failed(lane, err);
    }
  }

  async #exchangeMultipart(
    lane: Lane,
    channel: string,
    body: Buffer,
    contentType: string | undefined,
  ): Promise<string> {
    try {
      const data = await parsePublishBody(body, contentType, null, this.#host.core.options.limits);
      return this.#accepted(lane, channel, await this.#host.publish(channel, data));
    } catch (err) {
      return this.#failed(lane, err);
    }
  }

  /** The 202 of a stored publish: its head (the body is left in `lane.body`). */
  #accepted(lane: Lane, channel: string, id: string): string {
    // What JSON.stringify({ id, channel }) gives: neither a cursor nor a plain channel name
    // (PLAIN_CHANNEL) has a character JSON escapes.
    const text = `{"id":"${id}","channel":"${channel}"}`;
    const ok = this.#ok;
    lane.body = text;
    return `${ok[0]}${id}${ok[1]}${text.length}${ok[2]}Date: ${utcDate()}\r\n`;
  }

  /** The error answer of a refused or failed publish: its head (the body is left in `lane.body`). */
  #failed(lane: Lane, err: unknown): string {
    const a = errorAnswer(this.#host.core, err, this.#fixedHeaders);
    lane.body = a.body;
    return answerHead(a.status, a.headers, JSON_TYPE, a.body);
  }

  /**
   * Counts a trusted proxy's request against the connection limits under `lane.ip` (the client's),
   * unless it already is; the address is kept for release(). Throws the limit's HubError.
   */
  #admit(lane: Lane): void {
    // Another peer's connection counts as a whole from its accept (#accept()).
    if (!lane.trusted || lane.admitted !== undefined) return;
    admitIp(this.#host.core, lane.ip);
    lane.admitted = lane.ip;
  }

  /**
   * Counts a trusted proxy's publish whose head is complete and whose body is still to come, as
   * Node's path counts a request once its head is parsed; false when the limits refuse it: then it
   * is answered 503 and the connection closed (its body is never read).
   */
  admitBody(lane: Lane): boolean {
    try {
      this.#admit(lane);
      return true;
    } catch (err) {
      lane.close = true;
      lane.busy = true;
      lane.takeAll();
      this.expect();
      this.answer(lane, this.#failed(lane, err));
      return false;
    }
  }

  /**
   * Counts a trusted proxy's poll against the connection limits while it is open, as the regular
   * path counts each open request: released by reply() (or when the connection closes). Any other
   * connection counts as a whole already.
   */
  admit(lane: PollLane): void {
    const l = lane as Lane;
    if (!l.trusted || l.admitted !== undefined) return;
    this.#admit(l);
    l.admittedPoll = true;
  }

  /** Answers a poll (fast-poll.ts): queued like a publish's answer, written with the turn's others. */
  reply(
    lane: PollLane,
    status: number,
    headers: Record<string, string>,
    type: string,
    body: Buffer | string,
  ): void {
    const l = lane as Lane;
    if (l.admittedPoll) {
      l.admittedPoll = false;
      this.release(l);
    }
    l.body = body;
    // The common answer (a 200 to a poll without Origin) from its template, built once.
    const ok = this.#pollOk;
    const head =
      status === 200 && headers === this.#fixedHeaders && type === JSON_TYPE
        ? `${ok[0]}${Buffer.byteLength(body)}${ok[1]}Date: ${utcDate()}\r\n`
        : answerHead(status, headers, type, body);
    this.answer(l, head);
  }

  /** The answer's Connection header and the blank line, decided when the answer is written. */
  connection(close: boolean): string {
    return close ? 'Connection: close\r\n\r\n' : this.#keepAlive;
  }

  /**
   * Called as a request's exchange starts (while reading, in the poll phase): makes sure this
   * turn's check phase has a flush, ahead of anything the exchange itself schedules.
   */
  expect(): void {
    if (this.#turnPending) return;
    this.#turnPending = true;
    setImmediate(this.#flushTurn);
  }

  /**
   * Queues an answer. The answers to the publishes read in one turn go out back to back: the first
   * write wakes a sleeping peer process, the next ones find it awake, and waking a peer costs more
   * than the write itself on loopback and in VMs (docs/operations.md). An answer ready while the
   * requests are read (a store that resolves at once) waits for the turn's flush; one that comes
   * after it (a store that commits in the check phase, as SQLite's group commit does) goes out once
   * the promises resolved with it have run (nextTick: after the microtask queue drains).
   */
  answer(lane: Lane, text: string): void {
    this.#answers.push(lane, text);
    // The exchange called expect() as it started: no flush pending means this turn's has run.
    if (!this.#turnPending && !this.#tickPending) {
      this.#tickPending = true;
      process.nextTick(this.#flushTick);
    }
  }

  readonly #flushTurn = (): void => {
    this.#turnPending = false;
    this.#write();
  };

  readonly #flushTick = (): void => {
    this.#tickPending = false;
    this.#write();
  };

  /** Writes the queued answers in order; each lane then reads its next request, if any. */
  #write(): void {
    const q = this.#answers;
    if (q.length === 0) return;
    this.#answers = [];
    for (let i = 0; i < q.length; i += 2) (q[i] as Lane).answered(q[i + 1] as string);
  }

  /** Ends a connection's admission (on close or handover). */
  release(lane: Lane): void {
    if (lane.admitted === undefined) return;
    releaseIp(this.#host.core, lane.admitted);
    lane.admitted = undefined;
  }

  /**
   * Closes what waits too long, as Node's server would: a head still incomplete after
   * `limits.headersTimeoutMs` and a request whose body is still incomplete after
   * `limits.requestTimeoutMs` (both counted from the request's first byte, or from the
   * connection's start: slowloris), answered 408; a keep-alive connection idle for
   * `limits.keepAliveTimeoutMs`, closed.
   */
  #sweep(): void {
    const now = Date.now();
    for (const socket of this.sockets) {
      const lane = lanes.get(socket);
      if (lane === undefined || lane.busy || lane.done) continue;
      if (lane.headSince !== 0) {
        const limit = lane.inBody ? this.#requestTimeoutMs : this.#headersTimeoutMs;
        if (now - lane.headSince > limit) {
          lane.done = true;
          lane.takeAll();
          answerClientError(HEAD_TIMEOUT, socket);
        }
      } else if (lane.buf === null && now - lane.idleSince > this.#keepAliveTimeoutMs) socket.destroy();
    }
  }

  /** hub.close(): idle connections close now; one with a publish in flight after its answer. */
  close(): void {
    this.closing = true;
    clearInterval(this.#sweeper);
    for (const socket of this.sockets) {
      const lane = lanes.get(socket);
      if (lane === undefined || !lane.busy) socket.destroy();
    }
  }

  /** Cuts whatever is left (after close()'s grace period). */
  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

/** One connection's state: the bytes not yet answered and whether an exchange is in flight. */
class Lane implements PollLane {
  /** The unanswered bytes, contiguous (what parse() reads). */
  buf: Buffer | null = null;
  /** Chunks received after `buf`, joined only once there are `need` bytes: a body arriving in many
   * small reads is copied once, not once per read. */
  #more: Buffer[] = [];
  #moreBytes = 0;
  #need = 0;
  /** When the request now pending began (its first byte, or the connection's start); 0: none pending. */
  headSince = Date.now();
  /** The pending request's head is complete and its body is awaited (`limits.requestTimeoutMs`). */
  inBody = false;
  /** The connection is answered for good (closing): what it sends from now on is not read. */
  done = false;
  /** The address the request in hand counts under (the peer's, or the client's behind a trusted proxy). */
  ip: string;
  /** When the last answer was written (or the connection opened). */
  idleSince = this.headSince;
  busy = false;
  /** The address this connection (a trusted proxy's: its request) was admitted under, until released. */
  admitted: string | undefined = undefined;
  /** The admission is the held poll's, released with its answer (FastLane.admit()). */
  admittedPoll = false;
  /** The peer sent its FIN: close once the exchange in flight is answered. */
  ended = false;
  /** The request in flight asked for `Connection: close`. */
  close = false;
  /** The answer's body, from exchange() (or reply()) until answered() writes it. */
  body: Buffer | string = '';
  /** The poll held on this connection (fast-poll.ts), until answered or closed. */
  poll: LanePollSubscriber | undefined = undefined;
  readonly owner: FastLane;
  readonly socket: Socket;
  /** The peer's address. */
  readonly peer: string;
  /** The peer is a trusted proxy: each request counts under the client address it forwards. */
  readonly trusted: boolean;

  constructor(owner: FastLane, socket: Socket, peer: string, trusted: boolean) {
    this.owner = owner;
    this.socket = socket;
    this.peer = peer;
    this.ip = peer;
    this.trusted = trusted;
  }

  /**
   * Takes a chunk (possibly a view of the shared read buffer: see own()); true when there are
   * enough bytes to parse again.
   */
  add(chunk: Buffer): boolean {
    if (this.buf === null) this.buf = chunk;
    else {
      this.#more.push(isShared(chunk) ? Buffer.from(chunk) : chunk);
      this.#moreBytes += chunk.length;
    }
    if (this.buf.length + this.#moreBytes < this.#need) return false;
    this.#join();
    return true;
  }

  /**
   * Copies the unanswered bytes out of the shared read buffer, once the read that brought them is
   * done with (most reads are one whole request, answered or in flight by then: nothing to copy).
   */
  own(): void {
    if (this.buf !== null && isShared(this.buf)) this.buf = Buffer.from(this.buf);
  }

  #join(): void {
    if (this.#more.length === 0 || this.buf === null) return;
    this.buf = Buffer.concat([this.buf, ...this.#more]);
    this.#more = [];
    this.#moreBytes = 0;
  }

  /** Bytes received and not yet answered. */
  get buffered(): number {
    return (this.buf?.length ?? 0) + this.#moreBytes;
  }

  /** Every unanswered byte, leaving the lane empty (for a handover). */
  takeAll(): Buffer | null {
    this.#join();
    const rest = this.buf;
    this.buf = null;
    return rest;
  }

  /** Answers the complete requests in `buf`, one at a time, in order. */
  pump(): void {
    while (!this.busy && this.buf !== null) {
      this.#join();
      const buf = this.buf;
      const r = this.owner.parse(buf, this);
      if (r === 'node') {
        this.owner.handOver(this);
        return;
      }
      if ('need' in r) {
        // Incomplete: wait for more bytes (parse() bounds how many, by the head and body limits),
        // for as long as the lane's sweep allows (headersTimeoutMs, then requestTimeoutMs).
        this.#need = r.need;
        if (this.headSince === 0) this.headSince = Date.now();
        if (!r.inHead) {
          this.inBody = true;
          this.ip = r.ip;
          // A held body counts against the connection limits while it is awaited.
          this.owner.admitBody(this);
        }
        return;
      }
      this.#need = 0;
      this.headSince = 0;
      this.inBody = false;
      this.ip = r.ip;
      const end = 'poll' in r ? r.end : r.body.byteOffset - buf.byteOffset + r.body.length;
      this.buf = end < buf.length ? buf.subarray(end) : null;
      this.busy = true;
      // A pipelining peer ahead of the answers: onData() stops reading once a head's worth waits.
      this.owner.expect();
      if ('poll' in r) {
        this.close = r.poll.close;
        startPoll(this.owner, this, r.poll);
        continue;
      }
      this.close = r.close;
      const head = this.owner.exchange(this, r);
      if (typeof head === 'string') this.owner.answer(this, head);
      else
        head.then(
          (text) => this.owner.answer(this, text),
          () => this.socket.destroy(),
        );
    }
  }

  /**
   * Writes the answer to the request in flight (`head`: its head up to the Connection header, the
   * body in `body`), then goes on with the connection. Whether it closes is decided here, at the
   * write, so the header says what happens (hub.close() may have begun since the publish).
   */
  answered(head: string): void {
    const socket = this.socket;
    const close = this.close || this.owner.closing;
    const body = this.body;
    this.body = '';
    if (!socket.destroyed) {
      if (typeof body === 'string') socket.write(head + this.owner.connection(close) + body);
      else {
        // A poll's shared answer bytes: copied after the head into one buffer, one write. Corked
        // head and body went through Node's writev path, which cost more than copying a few hundred
        // bytes (bench/ab.mjs --scenario longpoll: 6 of 6 pairs, 27.2 -> 25.5 µs per round trip).
        const text = head + this.owner.connection(close);
        const out = Buffer.allocUnsafe(text.length + body.length);
        out.write(text, 0, 'latin1');
        body.copy(out, text.length);
        socket.write(out);
      }
      // As Node's server does: destroyed once the answer is flushed, so a FIN the peer sends into a
      // paused socket (never read) cannot keep it half-open.
      if (close) socket.destroySoon();
    }
    this.busy = false;
    this.idleSince = Date.now();
    // A trusted proxy's connection counts per request: the next may be another client's.
    if (this.trusted) this.owner.release(this);
    // A connection that closed meanwhile: requests pipelined behind are dropped, as Node drops them.
    if (close || socket.destroyed) {
      this.done = true;
      this.takeAll();
      return;
    }
    if (this.ended) {
      // Requests complete before the FIN are answered (a peer may send them all, then shut down).
      this.pump();
      if (!this.busy) this.finish();
      return;
    }
    this.socket.resume();
    this.pump();
  }

  /**
   * Closes a half-closed connection once nothing is in flight: at once when every request was
   * answered, else as Node's server does for a request cut short by the FIN (400, or a plain close
   * when answers were already written; answerClientError()).
   */
  finish(): void {
    if (this.takeAll() === null) this.socket.end();
    else answerClientError(EOF, this.socket);
  }
}

/** A read of a lane connection (shared-read.ts): parsed in place, what stays is copied. */
function onRead(this: Socket, n: number, shared: Buffer): boolean {
  const lane = lanes.get(this);
  // Handed over to Node: read as any socket.
  if (lane === undefined) return pushRead(this, n, shared);
  // Answered for good and closing: the rest (a refused body) is read and dropped.
  if (lane.done) return true;
  if (lane.add(shared.subarray(0, n))) lane.pump();
  lane.own();
  // While an answer is pending (a held poll can be for minutes) reading goes on, so that a FIN or
  // reset is seen, until a head's worth of bytes waits; the rest waits in the kernel, unread, and
  // answered() resumes reading.
  if (lane.busy && lane.buffered > lane.owner.maxWaiting) this.pause();
  return true;
}

/**
 * The peer's FIN (the server allows half-open connections, as Node's HTTP server does): requests
 * complete before it are still answered, then the connection closes.
 */
function onEnd(this: Socket): void {
  const lane = lanes.get(this);
  if (lane === undefined) return;
  lane.ended = true;
  const poll = lane.poll;
  if (poll !== undefined) {
    // A held poll ends with the peer's FIN, as on Node's path (the server aborts the request and
    // ends the socket, dropping requests pipelined behind it): a client that gave up must not
    // hold a subscriber until the deadline.
    lane.poll = undefined;
    poll.detach();
    lane.takeAll();
    lane.owner.release(lane);
    lane.admittedPoll = false;
    this.end();
    return;
  }
  if (!lane.busy) lane.finish();
}

/** Whether the head so far has a bare LF, or a CR followed by anything but LF. */
function bareLineEnd(scan: string): boolean {
  for (let i = scan.indexOf('\n'); i !== -1; i = scan.indexOf('\n', i + 1))
    if (i === 0 || scan.charCodeAt(i - 1) !== 13) return true;
  for (let i = scan.indexOf('\r'); i !== -1 && i + 1 < scan.length; i = scan.indexOf('\r', i + 1))
    if (scan.charCodeAt(i + 1) !== 10) return true;
  return false;
}

function onError(this: Socket): void {
  this.destroy();
}

function onClose(this: Socket): void {
  const lane = lanes.get(this);
  if (lane === undefined) return;
  lane.owner.sockets.delete(this);
  lane.owner.release(lane);
  const poll = lane.poll;
  if (poll !== undefined) {
    lane.poll = undefined;
    poll.detach();
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** What Node's parser reports for these cases, for answerClientError() (the answers Node's path gives). */
const EOF: NodeJS.ErrnoException = Object.assign(new Error('request cut short by the peer'), {
  code: 'HPE_INVALID_EOF_STATE',
});
const HEAD_TIMEOUT: NodeJS.ErrnoException = Object.assign(new Error('request head timeout'), {
  code: 'ERR_HTTP_REQUEST_TIMEOUT',
});

/** An answer's head up to its Connection header (added when it is written), Date included. */
function answerHead(
  status: number,
  headers: Record<string, string>,
  type: string,
  body: Buffer | string,
): string {
  return `${headOf(status, bodyHeaders(headers, type, Buffer.byteLength(body)))}Date: ${utcDate()}\r\n`;
}

/** A status line and header lines (the connection headers and Date are added per answer). */
function headOf(status: number, list: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (let i = 0; i < list.length; i += 2) head += `${list[i]}: ${list[i + 1]}\r\n`;
  return head;
}

/**
 * An answer's head built once from the same bodyHeaders() as every JSON answer, split around its
 * Content-Length: [before the length, after it] (the Date is added per answer).
 */
function lengthHead(status: number, headers: Record<string, string>, type: string): [string, string] {
  const LEN = '\u0000length\u0000';
  const list = bodyHeaders(headers, type, 0);
  for (let i = 0; i < list.length; i += 2) if (list[i] === 'Content-Length') list[i + 1] = LEN;
  const head = headOf(status, list);
  const b = head.indexOf(LEN);
  return [head.slice(0, b), head.slice(b + LEN.length)];
}

/** The 202 head, split around the two values that change per publish: the Cometa-Id and the Content-Length. */
function okHead(fixed: Record<string, string>): [string, string, string] {
  const ID = '\u0000id\u0000';
  const [before, after] = lengthHead(202, { ...fixed, 'Cometa-Id': ID }, JSON_TYPE);
  const a = before.indexOf(ID);
  // bodyHeaders() puts the extra headers (Cometa-Id) before the fixed ones (Content-Length).
  if (a < 0) throw new Error('fast lane: unexpected header order');
  return [before.slice(0, a), before.slice(a + ID.length), after];
}

let dateSecond = -1;
let dateText = '';
/** The Date header, formatted once per second (as Node does). */
function utcDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}
