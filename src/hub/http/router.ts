import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { isChannelName } from '../../protocol/channel.js';
import type { HubErrorCode } from '../../protocol/errors.js';
import type { HubCore } from '../core.js';
import { presenceSinceParam } from '../presence-log.js';
import { startDemoAnswer } from '../streams/demo-answer.js';
import { guardStream } from '../streams/guard.js';
import { decodeStreamPath, forkSourceOf, handleStream, type StreamRoutesConfig } from '../streams/routes.js';
import { pickTransport, websocket } from '../transports/index.js';
import type { SubscribeRequest } from '../transports/transport.js';
import { guardInfo, guardPublish, guardSubscribe, publisherScope } from './auth.js';
import { answerPreflight, compileOrigins, responseCors } from './cors.js';
import { csrfSettings, originAllowed, originMayChangeState } from './csrf.js';
import { isHostValue } from './host.js';
import { admit } from './limits.js';
import { handleOpsRoute } from './ops.js';
import { afterEarlierAnswers, mayRun, runLater } from './order.js';
import { handlePing } from './ping.js';
import { handlePresenceRoute, sameSiteRequest, subscriberPresence } from './presence.js';
import { handlePublishRoute, sendScriptError } from './publish.js';
import { describeError, HubError, isHubError, rawErrorAnswer, sendError, sendJson } from './respond.js';
import { isStatic, serveStatic } from './static.js';
import { parseSubscribe } from './subscribe.js';

/** What the router needs from the hub besides the core. */
export interface RouterHost {
  core: HubCore;
  publish(channel: string, data: unknown, options?: { event?: string }): Promise<string>;
  publishOnce(
    channel: string,
    data: unknown,
    options: { event?: string; key: string; scope?: string },
  ): Promise<{ id: string; duplicate: boolean }>;
  drop(channel: string): Promise<void>;
  info(
    channel: string,
  ): Promise<{ channel: string; lastId: string | null; stored: number; subscribers: number }>;
  /** Whether the hub is ready (store open) and not closing. */
  ready(): boolean;
  /** Prometheus metrics served at `/metrics` (absent when the `metrics` option is off). */
  metrics?: import('../metrics.js').HubMetrics | undefined;
  /** The Durable Streams routes (absent when the `streams` option is false). */
  streams?: StreamRoutesConfig | undefined;
}

// HEAD wherever GET is (RFC 9110 §9.1): the GET's head, and never its effect (a HEAD on /sub/
// subscribes to nothing, on /ping/ publishes nothing).
const ROUTE_METHODS: Record<string, readonly string[]> = {
  pub: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'],
  sub: ['GET', 'HEAD', 'OPTIONS'],
  ping: ['GET', 'HEAD', 'POST', 'OPTIONS'],
  presence: ['GET', 'HEAD', 'OPTIONS'],
};
/** Methods of the hub's fixed resources (/healthz, /readyz, /cometa.js, demo pages). */
const FIXED_METHODS = 'GET, HEAD, OPTIONS';
/** Every method the hub answers somewhere, for `OPTIONS *` and CONNECT's 405. */
export const SERVER_METHODS = 'GET, HEAD, POST, DELETE, OPTIONS';
/** `http://host` or `https://host` at the start of an absolute-form request target. */
const ABSOLUTE_FORM = /^https?:\/\/[^/?#]*/i;

const JSONP_CALLBACK_RE = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;

/**
 * The JSONP callback of a GET on /sub/ or /pub/ when it is a valid name, so errors can be answered
 * as script the page can read (docs/cross-origin.md); undefined otherwise (errors stay JSON, and an
 * invalid name is never echoed).
 */
function jsonpCallback(method: string, path: string, query: URLSearchParams): string | undefined {
  if (method !== 'GET' || !(path.startsWith('/sub/') || path.startsWith('/pub/'))) return undefined;
  const cb = query.get('callback');
  return cb !== null && cb.length <= 128 && JSONP_CALLBACK_RE.test(cb) ? cb : undefined;
}

/** Methods that change state: their Origin must be allowed even when CORS would let a read through. */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Express-style `next`, so the handler can sit in a middleware chain. */
export type Next = (err?: unknown) => void;

/**
 * Builds the hub's request handler and upgrade handler. Routes (under `options.prefix`):
 * `/pub/{channel}` (GET info, POST publish, DELETE history), `/sub/{channels}` (subscribe),
 * `/cometa.js` (the client bundle), `/healthz`, `/readyz`; anything else is 404, or `next()`
 * when mounted as middleware.
 */
export function createRouter(host: RouterHost): {
  handler: (req: IncomingMessage, res: ServerResponse, next?: Next) => void;
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
} {
  const { core } = host;
  const options = core.options;
  const allowed = compileOrigins(options.cors);
  const csrf = csrfSettings(options);
  const prefix = options.prefix;
  // The Origin check of state-changing requests: what CORS allows, plus the hub's own pages and
  // `auth.csrf.origins` (a same-origin page is not cross-origin; cors.origins need not list it).
  const mayChangeState = (origin: string | undefined, req: IncomingMessage) =>
    origin === undefined || originMayChangeState(origin, req, csrf, allowed);

  function split(url: string | undefined): { path: string; query: URLSearchParams } | undefined {
    let raw = url ?? '/';
    // RFC 9112 §3.2.2: a server accepts the absolute form (what a request to a proxy uses).
    if (raw.charCodeAt(0) !== 47 /* / */) {
      const authority = ABSOLUTE_FORM.exec(raw);
      if (authority !== null) raw = raw.slice(authority[0].length) || '/';
      if (raw.charCodeAt(0) === 63 /* ? */) raw = `/${raw}`;
    }
    const q = raw.indexOf('?');
    let path = q === -1 ? raw : raw.slice(0, q);
    if (prefix !== '') {
      if (path !== prefix && !path.startsWith(`${prefix}/`)) return undefined;
      path = path.slice(prefix.length) || '/';
    }
    return { path, query: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)) };
  }

  function fail(res: ServerResponse, err: unknown, cors: Record<string, string>, callback?: string): void {
    // With a valid JSONP callback every error is a script calling it (docs/cross-origin.md).
    const answer = (code: HubErrorCode, message: string, headers: Record<string, string>) =>
      callback === undefined
        ? sendError(res, code, message, headers)
        : sendScriptError(res, callback, code, message, headers);
    const e = describeError(core, err);
    answer(e.code, e.message, e.headers === undefined ? cors : { ...cors, ...e.headers });
  }

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: URLSearchParams,
    next?: Next,
  ) {
    const method = req.method ?? 'GET';
    const origin = req.headers.origin;
    const cors = responseCors(options.cors, allowed, origin);
    const slash = path.indexOf('/', 1);
    const head = slash === -1 ? path.slice(1) : path.slice(1, slash);
    const rest = slash === -1 ? '' : path.slice(slash + 1);

    const streamsPrefix = options.streams?.prefix;
    if (host.streams !== undefined && streamsPrefix !== undefined && path.startsWith(`${streamsPrefix}/`)) {
      if (STATE_CHANGING.has(method) && origin !== undefined && !allowed(origin)) {
        throw new HubError('ERR_ORIGIN_FORBIDDEN', 'this Origin may not change state on this hub');
      }
      const streamPath = decodeStreamPath(path.slice(streamsPrefix.length + 1));
      if (streamPath === undefined) {
        throw new HubError(
          'ERR_BAD_PARAM',
          'a stream path is 1 to 1024 characters, without empty, . or .. segments',
        );
      }
      await guardStream(core, req, query, streamPath, forkSourceOf(req, host.streams.mount), allowed);
      await handleStream(host.streams, req, res, streamPath, query, cors);
      return;
    }
    const methods = ROUTE_METHODS[head];
    if (methods !== undefined && rest !== '') {
      if (method === 'OPTIONS') {
        if (req.headers['access-control-request-method'] !== undefined) {
          const refusal = answerPreflight(req, res, options.cors, allowed, methods);
          if (refusal !== undefined) core.log?.info({ origin, path, refusal }, 'preflight refused');
        } else {
          // No Content-Length on a 204 (RFC 9110 §8.6).
          res.writeHead(204, { ...cors, Allow: methods.join(', ') });
          res.end();
        }
        return;
      }
      if (!methods.includes(method)) {
        throw new HubError('ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on /${head}/`, {
          Allow: methods.join(', '),
        });
      }
      if (head === 'ping') {
        // Refused pings are answered like accepted ones (ping.ts), so the Origin check is inside.
        if (!host.ready())
          throw new HubError('ERR_SHUTTING_DOWN', 'the hub is not accepting requests', {
            'Retry-After': '1',
          });
        // Auth and rate limits (a ping's token travels as ?token=, never published as a field).
        const pingChannel = decodeSafe(rest);
        let pingQuery = query;
        if (method !== 'HEAD' && isChannelName(pingChannel) && options.channelPolicy(pingChannel).ping) {
          await guardPublish(core, req, query, pingChannel, { allowed });
          pingQuery = new URLSearchParams(query);
          pingQuery.delete('token');
        }
        await handlePing(host, req, res, pingChannel, pingQuery, cors, mayChangeState(origin, req));
        return;
      }
      if (STATE_CHANGING.has(method) && !mayChangeState(origin, req)) {
        throw new HubError('ERR_ORIGIN_FORBIDDEN', 'this Origin may not change state on this hub');
      }
      if (!host.ready())
        throw new HubError('ERR_SHUTTING_DOWN', 'the hub is not accepting requests', { 'Retry-After': '1' });
      if (head === 'presence') {
        const channel = decodeSafe(rest);
        if (isChannelName(channel)) await guardSubscribe(core, req, query, [channel]);
        await handlePresenceRoute(core, res, channel, cors);
        return;
      }
      if (head === 'pub') {
        if (!isChannelName(decodeSafe(rest))) {
          throw new HubError(
            'ERR_BAD_CHANNEL',
            "channel names are segments of [A-Za-z0-9_~:-] joined by '.', at most 200 characters",
          );
        }
        // Reading info needs the subscribe grant; publishing (JSONP GET too) and deleting need publish.
        const isInfo = method === 'HEAD' || (method === 'GET' && !query.has('callback'));
        if (isInfo) await guardInfo(core, req, query, decodeSafe(rest));
        const creds = isInfo
          ? undefined
          : await guardPublish(core, req, query, decodeSafe(rest), { allowed });
        await handlePublishRoute(
          host,
          req,
          res,
          decodeSafe(rest),
          query,
          cors,
          mayChangeState(origin, req),
          publisherScope(creds),
        );
        return;
      }
      const transport = pickTransport(req, query);
      if (transport === undefined) {
        throw new HubError(
          'ERR_BAD_PARAM',
          '?transport= must be sse, stream, longpoll, poll or jsonp (websocket needs an Upgrade)',
        );
      }
      // JSONP answers must be script even for errors the page could not read otherwise; but a bad
      // callback name is answered as JSON (never echoed into script).
      const params = parseSubscribe(options, req, rest, query);
      const callback = jsonpCallback(method, path, query);
      const credentials = await guardSubscribe(core, req, query, params.channels);
      if (method === 'HEAD') {
        // What the GET would answer with, without subscribing.
        res.writeHead(200, headHeaders(cors, transport.name));
        res.end();
        return;
      }
      const presence = await subscriberPresence(
        core,
        req,
        query,
        params.channels,
        credentials,
        sameSiteRequest(req, transport.name === 'jsonp', (o) => originAllowed(o, req, csrf, allowed)),
      );
      // Spelled out rather than spread: a spread gives the object a map of its own per request.
      const sub: SubscribeRequest = {
        channels: params.channels,
        start: params.start,
        timeoutMs: params.timeoutMs,
        query,
        headers: cors,
        credentials,
        presence,
        presenceSince: presence?.events === true ? presenceSinceParam(query) : undefined,
        fail: (err) => fail(res, err, cors, callback),
      };
      transport.handle(core, req, res, sub);
      return;
    }
    if (path === '/demo/answer' && options.demo && host.streams !== undefined) {
      if (method !== 'POST') {
        throw new HubError('ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
          Allow: 'POST',
        });
      }
      if (origin !== undefined && !allowed(origin)) {
        throw new HubError('ERR_ORIGIN_FORBIDDEN', 'this Origin may not change state on this hub');
      }
      await startDemoAnswer(host.streams.engine, res, cors, host.streams.mount);
      return;
    }
    if (path === '/metrics' || path.startsWith('/demo/')) {
      if (STATE_CHANGING.has(method) && !mayChangeState(origin, req)) {
        throw new HubError('ERR_ORIGIN_FORBIDDEN', 'this Origin may not change state on this hub');
      }
      if (await handleOpsRoute(core, host.metrics, req, res, path, query, cors)) return;
    }
    if (method === 'GET' || method === 'HEAD') {
      if (path === '/healthz') return sendJson(res, 200, { ok: true });
      if (path === '/readyz') {
        return host.ready() ? sendJson(res, 200, { ready: true }) : sendJson(res, 503, { ready: false });
      }
      if (await serveStatic(req, res, path, options)) return;
    } else if (path === '*' && method === 'OPTIONS') {
      // The asterisk form asks about the server itself (RFC 9110 §9.3.7).
      res.writeHead(204, { Allow: SERVER_METHODS });
      res.end();
      return;
    } else if (path === '/healthz' || path === '/readyz' || (await isStatic(path, options))) {
      // A resource that exists answers other methods with 405 and what it allows (RFC 9110 §15.5.6).
      if (method === 'OPTIONS') {
        res.writeHead(204, { ...cors, Allow: FIXED_METHODS });
        res.end();
        return;
      }
      throw new HubError('ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
        Allow: FIXED_METHODS,
      });
    }
    if (next) return next();
    throw new HubError('ERR_NOT_FOUND', `no route for ${method} ${path}`);
  }

  function handler(req: IncomingMessage, res: ServerResponse, next?: Next): void {
    const parts = split(req.url);
    if (parts === undefined) {
      if (next) next();
      else sendError(res, 'ERR_NOT_FOUND', 'no route here');
      return;
    }
    // HTTP/1.1 requires Host (RFC 9112 §3.2); hub.listen() lets it through to answer here, as JSON.
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
      sendError(res, 'ERR_BAD_REQUEST', 'an HTTP/1.1 request needs a Host header', { Connection: 'close' });
      return;
    }
    const ambiguous = ambiguousHead(req);
    if (ambiguous !== undefined) {
      sendError(res, 'ERR_BAD_REQUEST', ambiguous, { Connection: 'close' });
      return;
    }
    // Every open request counts against limits.maxConnections / maxConnectionsPerIp until it closes
    // ('on', not 'once': a response closes once, and 'once' would add a wrapper per request).
    try {
      const release = admit(core, req);
      res.on('close', release);
      // A request pipelined behind another waits with no socket of its own (res.socket null); behind
      // a stream it is never answered and its response never closes: release with the connection
      // too (and forget that listener when the response does close, on a long keep-alive socket).
      if (res.socket === null) {
        const socket = req.socket;
        socket.once('close', release);
        res.on('close', () => socket.off('close', release));
      }
    } catch (err) {
      // Closed after the answer: the connection holds a descriptor the limits refused (and a body
      // to come would otherwise be waited for, up to requestTimeoutMs, uncounted).
      fail(res, err, { ...responseCors(options.cors, allowed, req.headers.origin), Connection: 'close' });
      return;
    }
    // Pipelined requests run in order behind publishes and other quick answers (order.ts).
    const barrier = !(req.method === 'GET' && parts.path.startsWith('/sub/'));
    if (mayRun(req, res, barrier)) dispatch(req, res, parts, next);
    else runLater(req, res, barrier, () => dispatch(req, res, parts, next));
  }

  function dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    parts: { path: string; query: URLSearchParams },
    next: Next | undefined,
  ): void {
    route(req, res, parts.path, parts.query, next).catch((err: unknown) => {
      // The peer went away before its request was whole: nobody reads an answer, and it is not
      // the hub's failure (an error log per dropped upload would hide the real ones).
      if (!isHubError(err) && !req.complete && req.destroyed) {
        core.log?.debug({ err }, 'request aborted by the client');
        res.destroy();
        return;
      }
      const cors = responseCors(options.cors, allowed, req.headers.origin);
      const callback = jsonpCallback(req.method ?? 'GET', parts.path, parts.query);
      // A body we stopped reading would otherwise be parsed as the next request: close after answering.
      fail(
        res,
        err,
        isHubError(err) && err.code === 'ERR_BODY_TOO_LARGE' ? { ...cors, Connection: 'close' } : cors,
        callback,
      );
    });
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node hands over an upgrade socket with no 'error' listener: a peer reset while we refuse or
    // check the token would otherwise be an uncaught exception that kills the hub (found by fuzzing).
    socket.on('error', destroySelf);
    // Pipelined behind requests still being answered: its 101 (or refusal) goes after their answers.
    afterEarlierAnswers(socket, () => {
      if (!socket.destroyed) upgradeNow(req, socket, head);
    });
  }

  function upgradeNow(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const parts = split(req.url);
    const refuse = (status: number, code: string, message: string, headers?: Record<string, string>) => {
      // end() only half-closes: a peer that never closes its side would hold the socket (and
      // hub.close()) forever, so destroy once the answer is flushed.
      socket.end(rawErrorAnswer(status, code, message, headers), () => socket.destroy());
    };
    if (parts === undefined || !parts.path.startsWith('/sub/')) {
      refuse(404, 'ERR_NOT_FOUND', 'no WebSocket route here');
      return;
    }
    // Refuse a malformed handshake here, as JSON: ws's own refusal is an HTML page.
    if (req.method !== 'GET') {
      refuse(405, 'ERR_METHOD_NOT_ALLOWED', 'a WebSocket handshake is a GET', { Allow: 'GET' });
      return;
    }
    const badRequest = invalidHandshake(req) ?? ambiguousHead(req);
    if (badRequest !== undefined) {
      refuse(400, 'ERR_BAD_REQUEST', `not a valid WebSocket handshake: ${badRequest}`);
      return;
    }
    // RFC 6455 §4.2.2: a version the server does not speak is answered with the ones it does
    // (ws speaks 13, the RFC's, and 8, its last draft); RFC 9110 §15.5.22: a 426 names the upgrade.
    const version = req.headers['sec-websocket-version'];
    if (version !== '13' && version !== '8') {
      refuse(426, 'ERR_WEBSOCKET_VERSION', 'Sec-WebSocket-Version must be 13', {
        'Sec-WebSocket-Version': '13, 8',
        Upgrade: 'websocket',
        Connection: 'Upgrade, close',
      });
      return;
    }
    const origin = req.headers.origin;
    if (!mayChangeState(origin, req)) {
      core.log?.info({ origin, path: parts.path }, 'websocket origin refused');
      refuse(403, 'ERR_ORIGIN_FORBIDDEN', 'this Origin may not connect');
      return;
    }
    const failed = (err: unknown) => {
      if (isHubError(err)) refuse(err.status, err.code, err.message, err.headers);
      else socket.destroy();
    };
    try {
      // The socket counts against the connection limits for as long as it is open.
      socket.on('close', admit(core, req));
      const params = parseSubscribe(options, req, parts.path.slice(5), parts.query);
      // The token is checked before the handshake: a refused socket never opens (401/403 as HTTP).
      // A browser attaches cookies to a cross-site WebSocket too (CSWSH): a decision resting on an
      // ambient credential needs an Origin allowed to act with the session (csrf.ts), at the
      // upgrade and for every later frame.
      const originMayAct = origin !== undefined && originAllowed(origin, req, csrf, allowed);
      guardSubscribe(core, req, parts.query, params.channels, { socket: true, originMayAct }).then(
        async (credentials) => {
          let presence: Awaited<ReturnType<typeof subscriberPresence>>;
          try {
            presence = await subscriberPresence(
              core,
              req,
              parts.query,
              params.channels,
              credentials,
              sameSiteRequest(req, false, (o) => originAllowed(o, req, csrf, allowed)),
            );
          } catch (err) {
            failed(err);
            return;
          }
          if (socket.destroyed) return;
          websocket.upgrade(core, req, socket, head, {
            channels: params.channels,
            start: params.start,
            timeoutMs: params.timeoutMs,
            query: parts.query,
            headers: {},
            credentials,
            presence,
            fail: destroyer(socket),
          });
        },
        failed,
      );
    } catch (err) {
      failed(err);
    }
  }

  return { handler, upgrade };
}

/**
 * The 'error' listener of upgrade sockets. A shared function, not a closure: a closure here would
 * keep this handler's whole scope (request, query, parameters) alive as long as the connection.
 */
function destroySelf(this: Duplex): void {
  this.destroy();
}

/** A `fail` that destroys the socket, closing over nothing else (see destroySelf). */
function destroyer(socket: Duplex): () => void {
  return () => socket.destroy();
}

/** Fields a request carries at most once (a second one makes it ambiguous, RFC 9110 §5.3), by bit. */
const SINGLETONS = new Map([
  ['host', 1],
  ['content-type', 2],
  ['authorization', 4],
  ['origin', 8],
  ['last-event-id', 16],
  ['sec-websocket-key', 32],
  ['sec-websocket-version', 64],
]);
/**
 * Why a request's head is ambiguous, or undefined: a singleton field sent twice (Node keeps one
 * of them silently, and a proxy in front may have used the other), or a Host that is not a host
 * (RFC 9112 §3.2: both are answered 400).
 */
function ambiguousHead(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders;
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const bit = SINGLETONS.get(raw[i]!.toLowerCase());
    if (bit === undefined) continue;
    if ((seen & bit) !== 0) return `the request has more than one ${raw[i]} header`;
    seen |= bit;
  }
  const host = req.headers.host;
  if (host !== undefined && !isHostValue(host)) return 'the Host header is not a host';
  return undefined;
}

/** The head of a GET on /sub/ with this transport, for HEAD. */
function headHeaders(cors: Record<string, string>, transport: string): Record<string, string> {
  const type =
    transport === 'sse'
      ? 'text/event-stream; charset=utf-8'
      : transport === 'stream'
        ? 'application/x-ndjson; charset=utf-8'
        : transport === 'jsonp'
          ? 'application/javascript; charset=utf-8'
          : 'application/json; charset=utf-8';
  return { ...cors, 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
}

/**
 * What is wrong with a WebSocket handshake (RFC 6455 §4.2.1), or undefined. The version is
 * checked apart: an unknown one has its own answer.
 */
function invalidHandshake(req: IncomingMessage): string | undefined {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1) return 'it needs HTTP/1.1';
  if (String(req.headers.upgrade).toLowerCase() !== 'websocket') return 'Upgrade must be websocket';
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(req.headers.connection ?? ''))
    return 'Connection must include Upgrade';
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key.trim())) {
    return 'Sec-WebSocket-Key must be 16 bytes in base64';
  }
  return undefined;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '\u0000';
  }
}
