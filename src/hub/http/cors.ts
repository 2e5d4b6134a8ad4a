import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedCors } from '../options.js';

/**
 * Response headers the hub sends that scripts on other origins may read (besides the CORS-safelisted
 * ones: Cache-Control, Content-Language, Content-Length, Content-Type, Expires, Last-Modified, Pragma).
 * `Cometa-Id` is the id of a published message (POST /pub answers), `Retry-After` comes with 503 and
 * 429 answers, `Allow` with 405, `WWW-Authenticate` with 401, `Idempotent-Replayed` with
 * a publish answered from its idempotency key. Cursors travel in bodies, not headers.
 */
export const COMETA_EXPOSED_HEADERS: readonly string[] = Object.freeze([
  'Cometa-Id',
  'Retry-After',
  'Allow',
  'WWW-Authenticate',
  'Idempotent-Replayed',
]);

/**
 * Headers a browser never lists in `Access-Control-Request-Headers` for a safelisted value, but may
 * list when the value is not safelisted (e.g. `Content-Type: application/json`). Only what is
 * configured in `cors.allowHeaders` is allowed; this list is just for the log message.
 */
const SAFELISTED = new Set(['accept', 'accept-language', 'content-language', 'content-type', 'range']);

/**
 * Compiles `cors.origins` once into a predicate: exact origins (compared case-insensitively, as
 * browsers serialize hosts in lower case), `*` (any), and patterns where `*` stands for one or more
 * DNS labels (`https://*.example.com` matches `https://a.example.com` and `https://a.b.example.com`,
 * not `https://example.com` nor `https://example.com.evil.net`). `Origin: null` (sandboxed frames,
 * `file:` pages) only passes with `*`.
 */
export function compileOrigins(cors: ResolvedCors): (origin: string) => boolean {
  if (cors.anyOrigin) return () => true;
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const o of cors.origins) {
    const lower = o.toLowerCase();
    if (lower.includes('*')) {
      const re = lower.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[a-z0-9-]+(?:\\.[a-z0-9-]+)*');
      patterns.push(new RegExp(`^${re}$`));
    } else exact.add(lower);
  }
  return (origin) => {
    const lower = origin.toLowerCase();
    return exact.has(lower) || patterns.some((p) => p.test(lower));
  };
}

/**
 * The CORS headers of an actual (non-preflight) response, per the Fetch standard's CORS protocol:
 *
 * - public mode (`origins: ['*']`, never with credentials): `Access-Control-Allow-Origin: *` on every
 *   response, with or without an `Origin` header. The value does not depend on the request, so no
 *   `Vary` (caches may share one copy).
 * - listed origins: the request's origin reflected when it is listed, plus `Allow-Credentials: true`
 *   when `cors.credentials`; `Vary: Origin` on every response (also those without CORS headers), so
 *   a shared cache never serves one origin's answer to another.
 *
 * Returns null when the origin is not allowed; the caller sends `{ Vary: 'Origin' }` only, and the
 * browser refuses to expose the response.
 */
export function corsHeaders(
  cors: ResolvedCors,
  allowed: (origin: string) => boolean,
  origin: string | undefined,
): Record<string, string> | null {
  const expose = exposeList(cors);
  if (cors.anyOrigin) {
    return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': expose };
  }
  if (origin === undefined) return { Vary: 'Origin' };
  if (!allowed(origin)) return null;
  const h: Record<string, string> = {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Expose-Headers': expose,
    Vary: 'Origin',
  };
  if (cors.credentials) h['Access-Control-Allow-Credentials'] = 'true';
  return h;
}

/** `corsHeaders` for any request: the headers to send, `{ Vary: 'Origin' }` when refused. */
export function responseCors(
  cors: ResolvedCors,
  allowed: (origin: string) => boolean,
  origin: string | undefined,
): Record<string, string> {
  return corsHeaders(cors, allowed, origin) ?? (cors.anyOrigin ? {} : { Vary: 'Origin' });
}

const exposeCache = new WeakMap<ResolvedCors, string>();
function exposeList(cors: ResolvedCors): string {
  let list = exposeCache.get(cors);
  if (list === undefined) {
    const seen = new Set<string>();
    const all: string[] = [];
    for (const h of [...COMETA_EXPOSED_HEADERS, ...cors.exposeHeaders]) {
      if (!seen.has(h.toLowerCase())) all.push(h);
      seen.add(h.toLowerCase());
    }
    list = all.join(', ');
    exposeCache.set(cors, list);
  }
  return list;
}

/**
 * Answers a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
 *
 * Allowed (origin allowed, method one of the route's, every requested header configured): 204 with
 * `Access-Control-Allow-Origin` (`*` in public mode, else the origin), `Allow-Methods` (the route's
 * methods), `Allow-Headers`, `Max-Age` and, when configured, `Allow-Credentials: true`.
 *
 * `Allow-Headers` lists the configured headers, not an echo of the requested ones: the browser's
 * preflight cache stores each listed header under (origin, URL), so one preflight covers every later
 * request of the page that uses any subset of them for `Max-Age` seconds, while an echo would cache
 * only the exact set asked for and cost a new preflight whenever a request adds a header. An echo would
 * also allow any header at all, which defeats `cors.allowHeaders`. (`*` is not used: it means "any"
 * only for uncredentialed requests and never covers `Authorization`.)
 *
 * Refused: 204 without any CORS header (the browser then refuses the real request; the page sees a
 * network error, which is all the Fetch standard lets it see) and the reason is returned for the log.
 * `Vary` names the request headers the answer depends on, in both cases.
 */
export function answerPreflight(
  req: IncomingMessage,
  res: ServerResponse,
  cors: ResolvedCors,
  allowed: (origin: string) => boolean,
  methods: readonly string[],
): string | undefined {
  const origin = req.headers.origin;
  const method = String(req.headers['access-control-request-method']).trim();
  const requested = String(req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const allowHeaders = new Set(cors.allowHeaders.map((h) => h.toLowerCase()));
  let refusal: string | undefined;
  if (origin === undefined) refusal = 'no Origin header';
  else if (!allowed(origin)) refusal = `origin ${origin} is not in cors.origins`;
  else if (!methods.includes(method) || method === 'OPTIONS') {
    refusal = `method ${method} is not allowed here (${methods.join(', ')})`;
  } else {
    const bad = requested.find((h) => !allowHeaders.has(h));
    if (bad !== undefined) {
      const why = SAFELISTED.has(bad) ? ' (listed because its value is not CORS-safelisted)' : '';
      refusal = `request header ${bad} is not in cors.allowHeaders${why}`;
    }
  }
  const vary = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
  if (refusal !== undefined) {
    res.writeHead(204, { Vary: vary, 'Cache-Control': 'no-store' });
    res.end();
    return refusal;
  }
  const h: Record<string, string> = {
    'Access-Control-Allow-Origin': cors.anyOrigin ? '*' : origin!,
    // HEAD, like GET, is CORS-safelisted: never preflighted, so not listed.
    'Access-Control-Allow-Methods': methods.filter((m) => m !== 'OPTIONS' && m !== 'HEAD').join(', '),
    'Access-Control-Max-Age': String(cors.maxAge),
    Vary: vary,
  };
  if (cors.allowHeaders.length > 0) h['Access-Control-Allow-Headers'] = cors.allowHeaders.join(', ');
  if (cors.credentials) h['Access-Control-Allow-Credentials'] = 'true';
  res.writeHead(204, h);
  res.end();
  return undefined;
}
