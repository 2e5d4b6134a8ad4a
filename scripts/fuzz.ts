/**
 * Fuzzes a live hub with random and mutated requests over raw sockets (methods, paths, query
 * strings, headers, bodies, transfer encodings, broken HTTP) and random WebSocket frames, and
 * checks every answer: no 5xx, every refusal a 4xx JSON error whose code belongs to the registry
 * and whose status matches it, no header or script injected by what the request carried.
 *
 * Used by test/integration/fuzz.test.ts at CI size; run longer by hand:
 *   node --import tsx scripts/fuzz.ts --count 200000 --seed 42 [--ws 20000] [--store sqlite:/tmp/f.db] [--port N]
 */
import { connect } from 'node:net';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { ERROR_CODES } from '../src/protocol/errors.js';

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed by its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The marker every injection attempt tries to smuggle in as a response header or script. */
export const MARKER = 'X-Fuzz-Injected';
const INJECT = [
  `%0d%0a${MARKER}:%20yes`,
  `\r\n${MARKER}: yes`,
  `%0A${MARKER}:1`,
  '</script><script>alert(1)</script>',
  'alert(1)//',
  '"-alert(1)-"',
  '%00',
  '..%2f..%2fetc%2fpasswd',
  '%E0%A4%A',
  '%',
  '\u2028',
  '\ud800',
];

export interface FuzzOptions {
  port: number;
  host?: string;
  /** HTTP requests to send. */
  count: number;
  /** WebSocket frames to send (over a few sockets). */
  wsFrames?: number;
  seed?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** ms to wait for an answer to a request that must be answered (held ones get 250 ms). @default 5000 */
  deadlineMs?: number;
  /** Channels the generator must never touch (history checked by the caller). */
  avoid?: string;
  /** A valid token for the hub, used in some requests. */
  token?: string;
}

export interface FuzzReport {
  sent: number;
  answered: number;
  held: number;
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
  wsFrames: number;
  wsAnswers: number;
  failures: string[];
}

type Gen = () => number;
const pick = <T>(r: Gen, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const chance = (r: Gen, p: number) => r() < p;

function segment(r: Gen): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABC0123456789_-:';
  let s = '';
  const n = 1 + Math.floor(r() * 8);
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
  return s;
}

function channelName(r: Gen): string {
  if (chance(r, 0.08)) return pick(r, INJECT);
  if (chance(r, 0.1))
    return pick(r, ['', '.', 'a..b', '*', 'a.**', 'x'.repeat(300), '%2e', 'a%2Cb', 'priv.x', 'priv.y.z']);
  const n = 1 + Math.floor(r() * 3);
  return Array.from({ length: n }, () => segment(r)).join('.');
}

function queryValue(r: Gen): string {
  return pick(r, [
    () => String(Math.floor(r() * 5)),
    () => String(Math.floor(r() * 1e12)),
    () => '-1',
    () => pick(r, INJECT),
    () => 'abcd1234-5',
    () => `${segment(r).toLowerCase()}-${Math.floor(r() * 100)}`,
    () => '',
    () => 'x'.repeat(Math.floor(r() * 3000)),
    () => encodeURIComponent(JSON.stringify({ a: r() })),
  ])();
}

const QUERY_KEYS = [
  'since',
  'last',
  'timeout',
  'transport',
  'callback',
  'mode',
  'format',
  'event',
  'token',
  'data',
  'uniform',
  'x',
];
const TRANSPORTS = ['sse', 'stream', 'longpoll', 'poll', 'jsonp', 'websocket', 'bogus'];

function query(r: Gen, token: string | undefined): string {
  const parts: string[] = [];
  const n = Math.floor(r() * 5);
  for (let i = 0; i < n; i++) {
    const k = pick(r, QUERY_KEYS);
    let v = queryValue(r);
    if (k === 'transport' && chance(r, 0.7)) v = pick(r, TRANSPORTS);
    if (k === 'timeout' && chance(r, 0.8)) v = '1';
    if (k === 'mode' && chance(r, 0.7)) v = 'poll';
    if (k === 'since' && chance(r, 0.3)) v = `${segment(r).toLowerCase()}-${Math.floor(r() * 50)}`;
    if (k === 'callback' && chance(r, 0.5)) v = pick(r, ['cb', 'a.b', 'jQuery123_456', '$x']);
    if (k === 'token' && token && chance(r, 0.5)) v = token;
    parts.push(`${chance(r, 0.05) ? pick(r, INJECT) : k}=${v}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

interface Req {
  bytes: Buffer;
  /** May legitimately get no answer before the deadline (held poll, incomplete request). */
  mayHang: boolean;
  method: string;
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=ZZ',
  'multipart/form-data',
  'application/octet-stream',
  'text/html',
  'application/vnd.api+json',
  `text/plain\r\n${MARKER}: yes`,
];

/** JSON nested `depth` deep, as arrays or objects (past limits.maxJsonDepth: 400 before parsing). */
function nestedJson(r: Gen, depth: number): string {
  return chance(r, 0.5)
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

function body(r: Gen, type: string): Buffer {
  const kind = Math.floor(r() * 11);
  switch (kind) {
    case 9:
      return Buffer.from(nestedJson(r, 40 + Math.floor(r() * 5000)));
    case 10:
      // Past limits.maxFields (urlencoded) or, as multipart, past it in parts.
      return type.startsWith('multipart')
        ? Buffer.from(
            `${'--ZZ\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n'.repeat(1100)}--ZZ--\r\n`,
          )
        : Buffer.from('a=1&'.repeat(1000 + Math.floor(r() * 2000)));
    case 0:
      return Buffer.from(JSON.stringify({ n: r(), s: pick(r, INJECT), a: [1, 2, { b: null }] }));
    case 1:
      return Buffer.from('{"unterminated": [1, 2');
    case 2:
      return Buffer.from(
        `a=1&b=${encodeURIComponent(pick(r, INJECT).replace(/[\ud800-\udfff]/g, ''))}&__proto__=x&a=2`,
      );
    case 3:
      return Buffer.from(
        `--ZZ\r\nContent-Disposition: form-data; name="f"\r\n\r\nvalue\r\n--ZZ\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--ZZ--\r\n`,
      );
    case 4:
      return Buffer.from(`--ZZ\r\nContent-Disposition: form-data; name="f"\r\n\r\nvalue\r\n--ZZ--\r\n`);
    case 5: {
      const b = Buffer.alloc(Math.floor(r() * 2000));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
      return b;
    }
    case 6:
      return Buffer.alloc(type.includes('json') ? 0 : 70_000, 'y');
    case 7:
      return Buffer.from('\u00ff\u00fe\ud800 text');
    default:
      return Buffer.from('hello');
  }
}

/** One random request, built from a valid shape and then maybe broken. */
export function randomRequest(r: Gen, opts: { avoid?: string; token?: string }): Req {
  const method = chance(r, 0.04)
    ? pick(r, ['BREW', 'get', 'CONNECT', 'TRACE'])
    : pick(r, ['GET', 'GET', 'GET', 'POST', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PUT', 'PATCH']);
  let ch = channelName(r);
  if (opts.avoid && ch.startsWith(opts.avoid.split('.')[0]!)) ch = `z${ch}`;
  const chs = chance(r, 0.3)
    ? Array.from({ length: 1 + Math.floor(r() * 80) }, () => channelName(r)).join(',')
    : ch;
  const path = pick(r, [
    () => `/pub/${ch}`,
    () => `/sub/${chs}`,
    () => `/sub/${chs}`,
    () => `/ping/${ch}`,
    () =>
      pick(r, [
        '/cometa.js',
        '/healthz',
        '/readyz',
        '/',
        '/pub/',
        '/sub/',
        '/metrics',
        '/../../etc/passwd',
        '/%2e%2e/',
      ]),
    () => `/${pick(r, INJECT)}`,
  ])();
  let q = query(r, opts.token);
  // Most subscriptions answer at once (interval poll): held long-polls cost the fuzzer time, not coverage.
  if (path.startsWith('/sub/') && chance(r, 0.6)) q = q ? `${q}&mode=poll` : '?mode=poll';
  const target = `${path}${q}`;
  // A raw CR/LF (or other control byte) in the target breaks the request line: any answer, or none.
  const brokenLine = /[\u0000-\u001f\u007f-\uffff]/.test(target);
  const headers: string[] = [`Host: 127.0.0.1`];
  if (chance(r, 0.3))
    headers.push(`Origin: ${pick(r, ['https://evil.example', 'null', 'http://127.0.0.1', pick(r, INJECT)])}`);
  if (chance(r, 0.2)) headers.push('Accept: text/event-stream');
  if (chance(r, 0.15)) headers.push(`Last-Event-ID: ${queryValue(r).replace(/[\r\n]/g, '')}`);
  if (chance(r, 0.15))
    headers.push(
      `Authorization: ${pick(r, ['Bearer ', 'Bearer x.y.z', `Bearer ${opts.token ?? 'a'}`, 'Basic Zm9vOmJhcg==', 'Bearer'])}`,
    );
  if (chance(r, 0.1))
    headers.push(
      `Cookie: cometa_token=${pick(r, [opts.token ?? 'x', 'garbage', '"quoted"'])}; cometa_csrf=1`,
    );
  if (chance(r, 0.1)) headers.push(`X-Cometa: 1`, `X-CSRF-Token: ${segment(r)}`);
  if (chance(r, 0.1))
    headers.push(`Access-Control-Request-Method: ${pick(r, ['POST', 'GET', 'DELETE', 'TRACE'])}`);
  if (chance(r, 0.05)) headers.push(`X-Long: ${'h'.repeat(Math.floor(r() * 40_000))}`);
  if (chance(r, 0.05))
    headers.push(
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    );
  if (chance(r, 0.05)) headers.push(`Content-Encoding: ${pick(r, ['gzip', 'br', 'identity'])}`);
  let mayHang = (path.startsWith('/sub/') && method === 'GET') || brokenLine;
  let payload: Buffer = Buffer.alloc(0);
  if (
    method === 'POST' ||
    method === 'PUT' ||
    method === 'PATCH' ||
    (method === 'DELETE' && chance(r, 0.2))
  ) {
    const type = pick(r, CONTENT_TYPES);
    if (chance(r, 0.9)) headers.push(`Content-Type: ${type}`);
    payload = body(r, type);
    const framing = r();
    if (framing < 0.7) headers.push(`Content-Length: ${payload.length}`);
    else if (framing < 0.85) {
      headers.push('Transfer-Encoding: chunked');
      const size = payload.length.toString(16);
      payload = Buffer.concat([Buffer.from(`${size}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]);
    } else if (framing < 0.92) {
      // Declares more than it sends: the hub waits for the rest.
      headers.push(`Content-Length: ${payload.length + 10}`);
      mayHang = true;
    } else headers.push(`Content-Length: ${pick(r, ['-1', 'abc', '1, 2', '99999999999999999999'])}`);
  }
  headers.push('Connection: close');
  let bytes = Buffer.concat([
    Buffer.from(`${method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`),
    payload,
  ]);
  if (chance(r, 0.1)) {
    // Mutate: flip bytes, truncate, or duplicate a slice.
    const b = Buffer.from(bytes);
    const op = Math.floor(r() * 3);
    if (op === 0) for (let i = 0; i < 1 + r() * 5; i++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    bytes =
      op === 1
        ? b.subarray(0, Math.floor(r() * b.length))
        : op === 2
          ? Buffer.concat([b.subarray(0, 20), b])
          : b;
    mayHang = true;
  }
  return { bytes, mayHang, method };
}

interface Answer {
  status: number;
  headers: Map<string, string[]>;
  body: Buffer;
  head: string;
}

/** Sends raw bytes, reads one answer (head; and the body when it has a Content-Length). */
function exchange(
  host: string,
  port: number,
  req: Req,
  deadlineMs: number,
): Promise<Answer | 'held' | 'reset'> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (v: Answer | 'held' | 'reset') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish('held'), deadlineMs);
    s.on('error', () => finish(buf.length ? (parse(buf, true) ?? 'reset') : 'reset'));
    s.on('close', () => finish(buf.length ? (parse(buf, true) ?? 'reset') : 'reset'));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const a = parse(buf, false);
      if (a) finish(a);
    });
    s.write(req.bytes);
  });
  function parse(buf: Buffer, ended: boolean): Answer | undefined {
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) return undefined;
    const head = buf.subarray(0, end).toString('latin1');
    const lines = head.split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
    const headers = new Map<string, string[]>();
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      const k = l.slice(0, c).trim().toLowerCase();
      headers.set(k, [...(headers.get(k) ?? []), l.slice(c + 1).trim()]);
    }
    const bodyBytes = buf.subarray(end + 4);
    const len = headers.get('content-length')?.[0];
    if (req.method === 'HEAD' || status === 204 || status === 304 || status === 101) {
      return { status, headers, body: Buffer.alloc(0), head };
    }
    if (len !== undefined) {
      if (bodyBytes.length >= Number(len))
        return { status, headers, body: bodyBytes.subarray(0, Number(len)), head };
      return ended ? { status, headers, body: bodyBytes, head } : undefined;
    }
    // Streams (SSE, NDJSON) and chunked answers: the head is what we check.
    if (status < 400 || ended) return { status, headers, body: bodyBytes, head };
    return undefined;
  }
}

/** Checks one answer; returns a failure description or undefined. */
export function checkAnswer(a: Answer, req: Req): string | undefined {
  const what = `${req.bytes.subarray(0, 120).toString('latin1').split('\r\n')[0]} → ${a.status}`;
  if (a.status === 0) return `${what}: not an HTTP status line: ${a.head.slice(0, 80)}`;
  if (a.status >= 500) return `${what}: server error ${a.body.toString().slice(0, 200)}`;
  for (const k of a.headers.keys()) {
    if (k === MARKER.toLowerCase()) return `${what}: injected header`;
  }
  if (
    /<script/i.test(a.body.toString('latin1')) &&
    (a.headers.get('content-type')?.[0] ?? '').includes('html')
  ) {
    return `${what}: script in an HTML answer`;
  }
  if (a.status >= 400 && req.method !== 'HEAD') {
    const type = a.headers.get('content-type')?.[0] ?? '';
    if (!type.startsWith('application/json')) {
      return `${what}: refusal is not JSON (${type}): ${JSON.stringify(a.head)} for ${JSON.stringify(req.bytes.subarray(0, 300).toString('latin1'))}`;
    }
    let parsed: { error?: { code?: string; message?: string } };
    try {
      parsed = JSON.parse(a.body.toString('utf8'));
    } catch {
      return `${what}: refusal body is not JSON: ${a.body.toString().slice(0, 100)}`;
    }
    const code = parsed.error?.code;
    if (typeof code !== 'string' || !(code in ERROR_CODES)) return `${what}: unknown code ${code}`;
    if (ERROR_CODES[code as keyof typeof ERROR_CODES].status !== a.status) {
      return `${what}: ${code} answered with ${a.status}`;
    }
    if (typeof parsed.error?.message !== 'string' || parsed.error.message === '')
      return `${what}: no message`;
  }
  const target = req.bytes.subarray(0, 200).toString('latin1').split(' ')[1] ?? '';
  const jsonp = /^\/(sub|pub)\//.test(target);
  if (
    jsonp &&
    (a.headers.get('content-type')?.[0] ?? '').startsWith('application/javascript') &&
    a.body.length > 0
  ) {
    // JSONP: the script is exactly /**/NAME(JSON); with NAME an identifier path.
    const m = /^\/\*\*\/([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\(([\s\S]*)\);$/.exec(
      a.body.toString('utf8'),
    );
    if (!m) return `${what}: JSONP answer is not /**/NAME(json);`;
    try {
      JSON.parse(m[2]!);
    } catch {
      return `${what}: JSONP argument is not JSON`;
    }
  }
  return undefined;
}

/** Random WebSocket command frames (and binary, huge, broken ones) over a few sockets. */
async function fuzzWebSocket(opts: FuzzOptions, r: Gen, report: FuzzReport): Promise<void> {
  const total = opts.wsFrames ?? 0;
  if (total === 0) return;
  const host = opts.host ?? '127.0.0.1';
  let sent = 0;
  while (sent < total) {
    const url = `ws://${host}:${opts.port}/sub/${pick(r, ['ws.a', 'ws.b,ws.c', 'priv.x'])}${opts.token ? `?token=${opts.token}` : ''}`;
    const ws = new WebSocket(url);
    const ok = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('error', () => resolve(false));
      ws.once('unexpected-response', (_q, res) => {
        if ((res.statusCode ?? 0) >= 500)
          report.failures.push(`websocket upgrade answered ${res.statusCode}`);
        resolve(false);
      });
    });
    if (!ok) {
      sent++;
      continue;
    }
    ws.on('message', (d) => {
      report.wsAnswers++;
      try {
        const m = JSON.parse(String(d)) as { type?: string; error?: { code?: string } };
        if (
          m.type === 'error' &&
          (m.error?.code === 'ERR_INTERNAL' || !(String(m.error?.code) in ERROR_CODES))
        ) {
          report.failures.push(`websocket error frame ${String(d).slice(0, 200)}`);
        }
      } catch {
        report.failures.push(`websocket frame is not JSON: ${String(d).slice(0, 100)}`);
      }
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('error', () => {});
    const batch = Math.min(total - sent, 200 + Math.floor(r() * 300));
    for (let i = 0; i < batch && ws.readyState === WebSocket.OPEN; i++) {
      const kind = Math.floor(r() * 10);
      const id = Math.floor(r() * 1000);
      if (kind === 0) ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
      else if (kind === 1) ws.send('{not json');
      else if (kind === 2) ws.send(JSON.stringify([1, 2]));
      else if (kind === 3)
        ws.send(JSON.stringify({ type: 'subscribe', id, channels: [channelName(r), channelName(r)] }));
      else if (kind === 4) ws.send(JSON.stringify({ type: 'unsubscribe', id, channels: [channelName(r)] }));
      else if (kind === 5)
        ws.send(
          JSON.stringify({
            type: 'publish',
            id,
            channel: channelName(r),
            event: pick(r, ['message', 'open', 'x y', 'ok']),
            data: { v: r() },
          }),
        );
      else if (kind === 6)
        ws.send(JSON.stringify({ type: pick(r, ['nope', null, 1, '__proto__']), id: { x: 1 } }));
      else if (kind === 7)
        ws.send(
          JSON.stringify({ type: 'subscribe', id, channels: Array.from({ length: 100 }, () => segment(r)) }),
        );
      else if (kind === 8 && chance(r, 0.05))
        ws.send('x'.repeat(200_000)); // over maxPayload: closed with 1009
      else if (kind === 8 && chance(r, 0.3))
        ws.send(
          `{"type":"publish","id":${id},"channel":"ws.deep","data":${nestedJson(r, 40 + Math.floor(r() * 5000))}}`,
        );
      else
        ws.send(JSON.stringify({ type: 'publish', id, channel: `ws.${segment(r)}`, data: pick(r, INJECT) }));
      sent++;
      report.wsFrames++;
      if (i % 50 === 49) await new Promise((res) => setTimeout(res, 5));
    }
    await new Promise((res) => setTimeout(res, 50));
    ws.close();
    const code = await Promise.race([closed, new Promise<number>((res) => setTimeout(() => res(-1), 3000))]);
    if (code === 1011) report.failures.push('websocket closed with 1011 (server error)');
  }
}

/** Runs the fuzz against a hub listening on `opts.port`. */
export async function fuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const r = rng(opts.seed ?? 1);
  const host = opts.host ?? '127.0.0.1';
  const report: FuzzReport = {
    sent: 0,
    answered: 0,
    held: 0,
    byStatus: {},
    byCode: {},
    wsFrames: 0,
    wsAnswers: 0,
    failures: [],
  };
  const deadline = opts.deadlineMs ?? 5000;
  const reqOpts = {
    ...(opts.avoid ? { avoid: opts.avoid } : {}),
    ...(opts.token ? { token: opts.token } : {}),
  };
  const worker = async () => {
    while (report.sent < opts.count) {
      report.sent++;
      const req = randomRequest(r, reqOpts);
      // Held long-polls and incomplete requests are expected to wait: give them a short look only.
      const a = await exchange(host, opts.port, req, req.mayHang ? 250 : deadline);
      if (a === 'held') {
        report.held++;
        if (!req.mayHang)
          report.failures.push(
            `no answer in ${deadline} ms: ${JSON.stringify(req.bytes.subarray(0, 400).toString('latin1'))}`,
          );
        continue;
      }
      if (a === 'reset') {
        // A mutated request may be cut by the hub without an answer (e.g. after a 4xx on a broken stream).
        if (!req.mayHang)
          report.failures.push(
            `connection reset without answer: ${req.bytes.subarray(0, 100).toString('latin1').split('\r\n')[0]}`,
          );
        continue;
      }
      report.answered++;
      report.byStatus[a.status] = (report.byStatus[a.status] ?? 0) + 1;
      if (a.status >= 400) {
        try {
          const code = JSON.parse(a.body.toString()).error.code as string;
          report.byCode[code] = (report.byCode[code] ?? 0) + 1;
        } catch {
          // reported by checkAnswer
        }
      }
      const f = checkAnswer(a, req);
      if (f !== undefined && report.failures.length < 200) report.failures.push(f);
    }
  };
  await Promise.all([
    ...Array.from({ length: opts.concurrency ?? 32 }, worker),
    fuzzWebSocket(opts, rng((opts.seed ?? 1) + 1), report),
  ]);
  return report;
}

// CLI: a longer run against an in-process hub (or --port of a running one).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? def : Number(process.argv[i + 1]);
  };
  const { createHub } = await import('../src/hub/index.js');
  const external = arg('port', 0);
  const hub = external
    ? undefined
    : createHub({
        // --store sqlite:/tmp/x.db (or redis://…) fuzzes another store; memory by default.
        store: process.argv.includes('--store')
          ? process.argv[process.argv.indexOf('--store') + 1]!
          : 'memory',
        logger: false,
        retention: { maxMessages: 20 },
        limits: { publishRatePerIp: 0, maxConnectionsPerIp: 0, maxConnections: 0 },
        channels: [{ pattern: '**', publishGet: true, ping: true }],
      });
  const port = external || (await hub!.listen(0, '127.0.0.1')).port;
  const started = Date.now();
  const report = await fuzz({
    port,
    count: arg('count', 100_000),
    wsFrames: arg('ws', 10_000),
    seed: arg('seed', Date.now() % 1e9),
    concurrency: arg('concurrency', 48),
  });
  const { failures, ...rest } = report;
  console.log(
    JSON.stringify({ ...rest, seconds: (Date.now() - started) / 1000, failures: failures.length }, null, 2),
  );
  for (const f of failures.slice(0, 50)) console.log('FAIL', f);
  await hub?.close();
  process.exit(failures.length ? 1 : 0);
}
