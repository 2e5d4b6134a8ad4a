import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http/body.js';
import { HubError } from '../http/respond.js';
import type { ResolvedCors } from '../options.js';
import type { AppendResult, ReadResult, StreamEngine } from './engine.js';
import { acceptsGzip, type Gzipper } from './gzip.js';
import {
  closedHeader,
  contentTypeOf,
  header,
  parseCreate,
  parseProducer,
  REQUEST_HEADERS,
  RESPONSE_HEADERS,
} from './headers.js';
import { joinJson } from './json.js';
import { isOffset, responseCursor, ZERO_OFFSET } from './offset.js';
import { baseType, type StreamMeta, type StreamRecord } from './storage.js';
import { handleControl } from './subscription-routes.js';

const METHODS = 'GET, HEAD, PUT, POST, DELETE, OPTIONS';
const EXPOSE = RESPONSE_HEADERS.join(', ');

export interface StreamRoutesConfig {
  engine: StreamEngine;
  /** The full path prefix of stream URLs as clients see them (hub prefix included), e.g. `/v1/stream`. */
  mount: string;
  /** Request body limit (`limits.maxBodyBytes`). */
  maxBodyBytes: number;
  /** How long a long-poll waits before answering 204. */
  longPollMs: number;
  /** How long an SSE answer stays open before the server ends it (the client reconnects). */
  sseMaxMs: number;
  /** Interval of SSE keep-alive control events while nothing arrives. */
  sseKeepAliveMs: number;
  cors: ResolvedCors;
  allowed: (origin: string) => boolean;
  /** Whether the hub accepts requests (store open, not closing). */
  ready: () => boolean;
  /** Serve the reserved subscription APIs under `__ds/` (subscription-routes.ts). */
  subscriptions?: boolean;
  /** Gzip catch-up answers of `minBytes` or more at `level`; undefined: never. */
  gzip?: GzipConfig | undefined;
}

export interface GzipConfig {
  minBytes: number;
  /** Compresses (bounded in concurrency, with a cache of compressed pages: gzip.ts). */
  gzipper: Gzipper;
}

/** Headers every stream answer carries: CORS (with the protocol's headers exposed) and PROTOCOL.md 12.7's. */
function baseHeaders(cfg: StreamRoutesConfig, cors: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { ...cors };
  if (h['Access-Control-Allow-Origin'] !== undefined) h['Access-Control-Expose-Headers'] = EXPOSE;
  h['X-Content-Type-Options'] = 'nosniff';
  h['Cross-Origin-Resource-Policy'] = 'cross-origin';
  void cfg;
  return h;
}

/**
 * Serves one Durable Streams request (`path` is the stream path below the mount, already decoded).
 * Errors are thrown as HubErrors; the router answers them as `{"error":{"code","message"}}` with
 * the protocol's status.
 */
export async function handleStream(
  cfg: StreamRoutesConfig,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
  cors: Record<string, string>,
): Promise<void> {
  const method = req.method ?? 'GET';
  const base = baseHeaders(cfg, cors);
  if (method === 'OPTIONS') return preflight(cfg, req, res, base);
  if (!cfg.ready())
    throw new HubError('ERR_SHUTTING_DOWN', 'the hub is not accepting requests', { 'Retry-After': '1' });
  if (path.split('/')[0] === '__ds') {
    if (cfg.subscriptions !== true) {
      throw new HubError('ERR_NOT_FOUND', 'the __ds control paths are served with streams.subscriptions on');
    }
    return handleControl(cfg.engine, locationOf(req, cfg.mount), req, res, path, base, cfg.maxBodyBytes);
  }
  const engine = cfg.engine;
  switch (method) {
    case 'PUT': {
      const body = await readBody(req, cfg.maxBodyBytes);
      const create = parseCreate(req, body, (raw) => sourcePath(cfg.mount, raw));
      const { meta, created } = await engine.create(path, create);
      const h: Record<string, string> = {
        ...base,
        'Content-Type': meta.contentType,
        'Stream-Next-Offset': meta.tail,
      };
      if (created) h.Location = locationOf(req, `${cfg.mount}/${encodePath(path)}`);
      if (meta.closed) h['Stream-Closed'] = 'true';
      res.writeHead(created ? 201 : 200, h);
      res.end();
      return;
    }
    case 'POST':
      return append(cfg, req, res, path, base);
    case 'DELETE':
      await engine.delete(path);
      res.writeHead(204, base);
      res.end();
      return;
    case 'HEAD': {
      const meta = await engine.require(path);
      const h: Record<string, string> = {
        ...base,
        'Content-Type': meta.contentType,
        'Stream-Next-Offset': meta.tail,
        'Cache-Control': 'no-store',
        ETag: etag(meta, '-1', meta.tail, meta.closed),
      };
      if (meta.closed) h['Stream-Closed'] = 'true';
      if (meta.ttlSeconds !== undefined) h['Stream-TTL'] = String(meta.ttlSeconds);
      if (meta.expiresAt !== undefined) h['Stream-Expires-At'] = meta.expiresAt;
      res.writeHead(200, h);
      res.end();
      return;
    }
    case 'GET':
      return read(cfg, req, res, path, query, base);
    default:
      throw new HubError('ERR_METHOD_NOT_ALLOWED', `${method} is not a Durable Streams method`, {
        Allow: METHODS,
      });
  }
}

/** Answers a CORS preflight for a stream URL: the protocol's methods and request headers. */
function preflight(
  cfg: StreamRoutesConfig,
  req: IncomingMessage,
  res: ServerResponse,
  base: Record<string, string>,
): void {
  const origin = header(req, 'origin');
  const h: Record<string, string> = { ...base, Allow: METHODS, 'Content-Length': '0' };
  if (
    origin !== undefined &&
    header(req, 'access-control-request-method') !== undefined &&
    cfg.allowed(origin)
  ) {
    h['Access-Control-Allow-Origin'] = cfg.cors.anyOrigin ? '*' : origin;
    h['Access-Control-Allow-Methods'] = METHODS;
    const names = new Set([...cfg.cors.allowHeaders, ...REQUEST_HEADERS].map((n) => n.toLowerCase()));
    h['Access-Control-Allow-Headers'] = [...names].join(', ');
    h['Access-Control-Max-Age'] = String(cfg.cors.maxAge);
    if (cfg.cors.credentials) h['Access-Control-Allow-Credentials'] = 'true';
    if (!cfg.cors.anyOrigin) h.Vary = 'Origin';
  }
  res.writeHead(204, h);
  res.end();
}

async function append(
  cfg: StreamRoutesConfig,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  base: Record<string, string>,
): Promise<void> {
  const close = closedHeader(req);
  const producer = parseProducer(req);
  const body = await readBody(req, cfg.maxBodyBytes);
  const contentType = contentTypeOf(req);
  if (body.length === 0 && !close) {
    throw new HubError('ERR_BAD_BODY', 'an append needs a body (or Stream-Closed: true to close)');
  }
  if (body.length > 0 && header(req, 'content-type') === undefined) {
    throw new HubError('ERR_BAD_PARAM', 'an append with a body needs a Content-Type');
  }
  const result: AppendResult = await cfg.engine.append(path, {
    contentType: contentType ?? header(req, 'content-type'),
    body,
    close,
    streamSeq: header(req, 'stream-seq'),
    producer,
  });
  const h: Record<string, string> = { ...base };
  switch (result.kind) {
    case 'ok': {
      h['Stream-Next-Offset'] = result.meta.tail;
      if (result.meta.closed) h['Stream-Closed'] = 'true';
      if (result.producer !== undefined) {
        h['Producer-Epoch'] = String(result.producer.epoch);
        h['Producer-Seq'] = String(result.producer.seq);
      }
      // 200 when a producer's append was new (its retry is a 204), 204 otherwise (PROTOCOL.md 5.2.1).
      res.writeHead(result.producer !== undefined && body.length > 0 ? 200 : 204, h);
      res.end();
      return;
    }
    case 'duplicate':
      h['Stream-Next-Offset'] = result.meta.tail;
      if (result.meta.closed) h['Stream-Closed'] = 'true';
      if (producer !== undefined) {
        h['Producer-Epoch'] = String(producer.epoch);
        h['Producer-Seq'] = String(result.lastSeq);
      }
      res.writeHead(204, h);
      res.end();
      return;
    case 'closed':
      throw new HubError('ERR_STREAM_CLOSED', 'the stream is closed', {
        'Stream-Closed': 'true',
        'Stream-Next-Offset': result.meta.tail,
      });
    case 'stale-epoch':
      throw new HubError('ERR_PRODUCER_FENCED', 'a newer epoch of this producer has written', {
        'Producer-Epoch': String(result.epoch),
      });
    case 'epoch-seq':
      throw new HubError('ERR_BAD_PARAM', 'a new Producer-Epoch starts at Producer-Seq 0');
    case 'seq-gap':
      throw new HubError('ERR_PRODUCER_SEQ_GAP', `Producer-Seq ${result.received} skips ${result.expected}`, {
        'Producer-Expected-Seq': String(result.expected),
        'Producer-Received-Seq': String(result.received),
      });
  }
}

/** The start offset a read asks for: `-1`, `now` or a real offset; 400 when malformed or repeated. */
function offsetParam(query: URLSearchParams): string | undefined {
  const all = query.getAll('offset');
  if (all.length === 0) return undefined;
  if (all.length > 1) throw new HubError('ERR_BAD_OFFSET', 'give one offset');
  const o = all[0]!;
  if (o !== '-1' && o !== 'now' && !isOffset(o))
    throw new HubError('ERR_BAD_OFFSET', 'not an offset of this server');
  return o;
}

async function read(
  cfg: StreamRoutesConfig,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
  base: Record<string, string>,
): Promise<void> {
  const offset = offsetParam(query);
  const live = query.get('live');
  if (live !== null && live !== 'long-poll' && live !== 'sse') {
    throw new HubError('ERR_BAD_PARAM', '?live= must be long-poll or sse');
  }
  if (live !== null && offset === undefined)
    throw new HubError('ERR_BAD_OFFSET', `live=${live} needs an offset`);
  const engine = cfg.engine;
  let meta = await engine.require(path);
  const start = offset === undefined || offset === '-1' ? ZERO_OFFSET : offset === 'now' ? meta.tail : offset;
  if (start > meta.tail) throw new HubError('ERR_BAD_OFFSET', 'the offset is beyond the end of the stream');
  // The sliding TTL restarts on reads too; a failure to record it must not fail (or crash) the read.
  engine.touch(meta).catch(() => {});
  const json = baseType(meta.contentType) === 'application/json';
  if (live === 'sse') return sse(cfg, req, res, path, meta, start, query.get('cursor'), base);
  if (offset === 'now' && live === null) {
    const h: Record<string, string> = {
      ...base,
      'Content-Type': meta.contentType,
      'Stream-Next-Offset': meta.tail,
      'Stream-Up-To-Date': 'true',
      'Cache-Control': 'no-store',
    };
    if (meta.closed) h['Stream-Closed'] = 'true';
    res.writeHead(200, h);
    res.end(json ? '[]' : '');
    return;
  }
  let result = await engine.read(meta, start);
  if (live === 'long-poll' && result.records.length === 0) {
    const deadline = Date.now() + cfg.longPollMs;
    const gone = { aborted: false, onabort: undefined as undefined | (() => void) };
    res.once('close', () => {
      gone.aborted = true;
      gone.onabort?.();
    });
    for (;;) {
      // A closing hub answers held reads at once (204: the client polls again, elsewhere or later).
      if (meta.closed || gone.aborted || !cfg.ready()) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      const wait = engine.wait(path, left, gone);
      meta = await engine.require(path).catch((err: unknown) => {
        gone.onabort?.();
        throw err;
      });
      result = await engine.read(meta, start);
      if (result.records.length > 0 || meta.closed) {
        gone.onabort?.();
        break;
      }
      await wait;
    }
    if (gone.aborted) return;
    if (result.records.length === 0) {
      const h: Record<string, string> = {
        ...base,
        'Stream-Next-Offset': meta.closed ? meta.tail : start,
        'Stream-Up-To-Date': 'true',
        'Cache-Control': 'no-store',
      };
      if (meta.closed) h['Stream-Closed'] = 'true';
      else h['Stream-Cursor'] = responseCursor(query.get('cursor'));
      res.writeHead(204, h);
      res.end();
      return;
    }
  }
  // Only catch-up answers are compressed: a held read's answer is latency-bound and small.
  const gzip = live === null ? cfg.gzip : undefined;
  await answerRead(
    req,
    res,
    path,
    result,
    offset ?? '-1',
    json,
    base,
    live === 'long-poll' ? query.get('cursor') : undefined,
    gzip,
    cfg.longPollMs,
  );
}

/**
 * A catch-up or long-poll answer with data (or an empty catch-up answer). With `gzip` (catch-up
 * reads), a body of `minBytes` or more goes gzipped to a client that accepts it; such answers
 * carry `Vary: Accept-Encoding` whatever the client sent, and the gzipped one its own ETag.
 * `path` is the stream's (part of the compressed page's cache key).
 */
async function answerRead(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  result: ReadResult,
  requested: string,
  json: boolean,
  base: Record<string, string>,
  cursor: string | null | undefined,
  gzip: GzipConfig | undefined,
  stallMs: number,
): Promise<void> {
  const meta = result.meta;
  const atEnd = result.upToDate && meta.closed;
  const datas = result.records.map((r) => r.data);
  let body = json ? joinJson(datas) : Buffer.concat(datas);
  const varies = gzip !== undefined && body.length >= gzip.minBytes;
  const zipped = varies && acceptsGzip(header(req, 'accept-encoding'));
  const tag = etag(meta, requested, result.next, atEnd, zipped);
  const h: Record<string, string> = {
    ...base,
    'Content-Type': meta.contentType,
    'Stream-Next-Offset': result.next,
    ETag: tag,
    // A chunk short of the tail never changes; one reaching it is revalidated (ETag) before reuse.
    'Cache-Control': result.upToDate ? 'no-cache' : 'private, max-age=60, stale-while-revalidate=300',
  };
  if (result.upToDate) h['Stream-Up-To-Date'] = 'true';
  if (atEnd) h['Stream-Closed'] = 'true';
  else if (cursor !== undefined) h['Stream-Cursor'] = responseCursor(cursor);
  if (varies) h.Vary = h.Vary === undefined ? 'Accept-Encoding' : `${h.Vary}, Accept-Encoding`;
  if (header(req, 'if-none-match') === tag) {
    res.writeHead(304, h);
    res.end();
    return;
  }
  if (zipped && gzip !== undefined) {
    // The records of one incarnation (gen) of a stream never change: its first and last record
    // name the page, however the client spelled the offset it asked from.
    const first = result.records[0]?.offset ?? result.next;
    const key = `${path}\n${meta.gen}\n${first}\n${result.next}\n${json}`;
    const out = await gzip.gzipper.gzip(key, body);
    if (out === undefined) {
      // Compressions are busy: this client gets the other representation, with its own ETag.
      h.ETag = etag(meta, requested, result.next, atEnd, false);
    } else {
      body = out;
      h['Content-Encoding'] = 'gzip';
    }
  }
  h['Content-Length'] = String(body.length);
  if (res.destroyed) return;
  res.writeHead(200, h);
  await send(res, body, stallMs);
}

/** Pieces an answer's body is written in, so that the client's progress can be seen. */
const PIECE_BYTES = 256 * 1024;

/**
 * Writes `body` and ends `res`, in pieces; cuts the connection when the client has taken nothing
 * for `ms` (`streams.longPollTimeout`: a read holds its connection that long for data, and that
 * long again for a client that stops reading). A client that asks for a page and never reads it
 * would otherwise hold the connection and up to `streams.maxReadBytes` of the hub's memory as long
 * as it liked: nothing else times out a response being sent. A slow client that reads keeps its
 * answer. (One write of the whole body would not show progress: a socket's queue shrinks only when
 * a write completes.)
 */
async function send(res: ServerResponse, body: Buffer, ms: number): Promise<void> {
  let at = 0;
  for (; at + PIECE_BYTES < body.length; at += PIECE_BYTES) {
    if (res.destroyed) return;
    if (!res.write(body.subarray(at, at + PIECE_BYTES)) && !(await settled(res, 'drain', ms))) return;
  }
  if (res.destroyed) return;
  res.end(body.subarray(at));
  if (!res.writableFinished) await settled(res, 'finish', ms);
}

/** Resolves true on `event`, false when `res` closes first or `ms` pass (then it is destroyed). */
function settled(res: ServerResponse, event: 'drain' | 'finish', ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off(event, onEvent);
      res.off('close', onClose);
      resolve(ok);
    };
    const onEvent = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => {
      res.destroy();
      done(false);
    }, ms);
    res.on(event, onEvent);
    res.on('close', onClose);
  });
}

/**
 * `"{incarnation}:{start}:{end}[:c][:gz]"`: changes with the data served, with closure (PROTOCOL.md
 * 10.1) and with the content coding (a gzipped answer is another representation, RFC 9110 8.8.3).
 */
function etag(meta: StreamMeta, start: string, end: string, closed: boolean, zipped = false): string {
  return `"${meta.gen}:${start}:${end}${closed ? ':c' : ''}${zipped ? ':gz' : ''}"`;
}

/** PROTOCOL.md 5.8: data events (JSON arrays, text, or base64 for binary types), each followed by a control event. */
async function sse(
  cfg: StreamRoutesConfig,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  first: StreamMeta,
  start: string,
  cursor: string | null,
  base: Record<string, string>,
): Promise<void> {
  const type = baseType(first.contentType);
  const json = type === 'application/json';
  const b64 = !json && !type.startsWith('text/');
  const h: Record<string, string> = {
    ...base,
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
  };
  if (b64) h['Stream-SSE-Data-Encoding'] = 'base64';
  res.writeHead(200, h);
  req.socket.setNoDelay(true);
  const gone = { aborted: false, onabort: undefined as undefined | (() => void) };
  res.once('close', () => {
    gone.aborted = true;
    gone.onabort?.();
  });
  const engine = cfg.engine;
  const deadline = Date.now() + cfg.sseMaxMs;
  let at = start;
  let meta = first;
  let sentControl = false;
  try {
    while (!gone.aborted && cfg.ready()) {
      const wait = engine.wait(path, Math.max(1, Math.min(cfg.sseKeepAliveMs, deadline - Date.now())), gone);
      const current = await engine.get(path);
      if (current === undefined || current.softDeleted || current.gen !== meta.gen) break;
      meta = current;
      const result = await engine.read(meta, at, SSE_SLICE_BYTES);
      if (result.records.length > 0) {
        let written = true;
        for (const payload of ssePayloads(result.records, json ? 'json' : b64 ? 'base64' : 'text')) {
          written = await write(res, deadline, `event: data\n${dataLines(payload)}\n`);
          if (!written) break;
        }
        if (!written) break;
        at = result.next;
      }
      const ended = meta.closed && at >= meta.tail;
      if (result.records.length > 0 || !sentControl || ended) {
        const control: Record<string, unknown> = { streamNextOffset: at };
        if (ended) {
          control.streamClosed = true;
          control.upToDate = true;
        } else {
          control.streamCursor = responseCursor(cursor);
          if (at >= meta.tail) control.upToDate = true;
        }
        sentControl = true;
        if (!(await write(res, deadline, `event: control\n${dataLines(JSON.stringify(control))}\n`))) break;
      }
      if (ended) break;
      if (at < meta.tail) {
        gone.onabort?.();
        continue;
      }
      if (Date.now() >= deadline) break;
      const changed = await wait;
      if (!changed && !gone.aborted) {
        const keep = { streamNextOffset: at, streamCursor: responseCursor(cursor), upToDate: true };
        if (!(await write(res, deadline, `event: control\n${dataLines(JSON.stringify(keep))}\n`))) break;
      }
    }
  } finally {
    gone.onabort?.();
    if (!res.writableEnded) res.end();
  }
}

/**
 * How much an SSE answer reads from the store at a time (at most `streams.maxReadBytes`; a record
 * larger than this comes whole). With the data events below it bounds what a reader that stops
 * reading makes the hub hold: this slice, one event, and the socket's buffers. The next slice is
 * read only once the socket has taken the last event.
 */
const SSE_SLICE_BYTES = 256 * 1024;

/**
 * The most stream bytes one SSE `data` event carries (a multiple of 3, so each event is base64 on
 * its own, without padding in the middle: 64 KiB of base64). A JSON message larger than this is
 * still sent whole, in an event of its own.
 */
const SSE_EVENT_BYTES = 48 * 1024;

/**
 * The payloads of a slice's `data` events, made one at a time (PROTOCOL.md 5.8 lets several data
 * events come before a control event; clients join them): for JSON streams arrays of whole
 * messages, for others the bytes cut at most every {@link SSE_EVENT_BYTES}, text cut between
 * UTF-8 characters and never inside a CRLF.
 */
function* ssePayloads(records: readonly StreamRecord[], kind: 'json' | 'base64' | 'text'): Generator<string> {
  if (kind === 'json') {
    let group: Buffer[] = [];
    let bytes = 0;
    for (const r of records) {
      if (group.length > 0 && bytes + r.data.length + 1 > SSE_EVENT_BYTES) {
        yield joinJson(group).toString('utf8');
        group = [];
        bytes = 0;
      }
      group.push(r.data);
      bytes += r.data.length + 1;
    }
    if (group.length > 0) yield joinJson(group).toString('utf8');
    return;
  }
  const all = records.length === 1 ? records[0]!.data : Buffer.concat(records.map((r) => r.data));
  let from = 0;
  while (from < all.length) {
    let to = Math.min(all.length, from + SSE_EVENT_BYTES);
    if (kind === 'text' && to < all.length) {
      let cut = to;
      while (cut > from && ((all[cut]! & 0xc0) === 0x80 || (all[cut - 1] === 0x0d && all[cut] === 0x0a)))
        cut--;
      if (cut > from) to = cut;
    }
    yield all.subarray(from, to).toString(kind === 'base64' ? 'base64' : 'utf8');
    from = to;
  }
}

/** SSE `data:` lines of a payload: every CR, LF or CRLF starts a new line, so nothing can inject an event. */
function dataLines(payload: string): string {
  let out = '';
  for (const line of payload.split(/\r\n|\r|\n/)) out += `data:${line}\n`;
  return out;
}

/**
 * Writes, waiting for the socket to drain when its buffer is full; false when the client is gone.
 * A client that does not read what it was sent by the SSE answer's `deadline` (at least
 * {@link SSE_DRAIN_GRACE_MS} from now) is cut off: it would otherwise hold the connection and the
 * page queued for it for as long as it liked, past `streams.sseMaxSeconds`. It resumes from the
 * offset of the last control event it read, as after any reconnection.
 */
function write(res: ServerResponse, deadline: number, chunk: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(
      () => {
        res.destroy();
        done(false);
      },
      Math.max(deadline - Date.now(), SSE_DRAIN_GRACE_MS),
    );
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/** How long an SSE write waits for its client to read, at least, when the answer's time is up. */
const SSE_DRAIN_GRACE_MS = 1000;

/** The source path of a fork request (`PUT` with `Stream-Forked-From`), for access checks. */
export function forkSourceOf(req: IncomingMessage, mount: string): string | undefined {
  const raw = req.method === 'PUT' ? header(req, 'stream-forked-from') : undefined;
  return raw === undefined ? undefined : sourcePath(mount, raw);
}

/** The stream path a `Stream-Forked-From` value names (a path under the mount, or below it). */
function sourcePath(mount: string, raw: string): string | undefined {
  let p = raw;
  if (/^https?:\/\//i.test(p)) {
    try {
      p = new URL(p).pathname;
    } catch {
      return undefined;
    }
  }
  if (p.startsWith(`${mount}/`)) p = p.slice(mount.length + 1);
  else if (p.startsWith('/')) return undefined;
  return decodeStreamPath(p);
}

/** A stream path from the URL: percent-decoded, 1 to 1024 characters, no empty, `.` or `..` segment, no control characters. */
export function decodeStreamPath(raw: string): string | undefined {
  let p: string;
  try {
    p = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (p.length === 0 || p.length > 1024 || /[\u0000-\u001f\u007f]/.test(p)) return undefined;
  for (const seg of p.split('/')) if (seg === '' || seg === '.' || seg === '..') return undefined;
  return p;
}

/** The absolute URL of a new stream (PROTOCOL.md 5.1: Location equal to the stream URL). */
function locationOf(req: IncomingMessage, path: string): string {
  const host = header(req, 'host');
  if (host === undefined || !/^[\w.:[\]-]{1,300}$/.test(host)) return path;
  const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${tls ? 'https' : 'http'}://${host}${path}`;
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
