import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResolvedCors } from '../options.js';

/** Response headers the client library (and pages) may read cross-origin. */
export const COMETA_EXPOSED_HEADERS = [
  'Retry-After',
  'WWW-Authenticate',
  'Cometa-Cursor',
  'Cometa-Id',
  'Location',
];

/** Compiles `cors.origins` once: exact strings, `*`, and `https://*.example.com` wildcard subdomains. */
export function compileOrigins(cors: ResolvedCors): (origin: string) => boolean {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const o of cors.origins) {
    if (o === '*') continue;
    if (o.includes('*')) {
      const re = o.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*');
      patterns.push(new RegExp(`^${re}$`));
    } else exact.add(o);
  }
  return (origin) => cors.anyOrigin || exact.has(origin) || patterns.some((p) => p.test(origin));
}

/**
 * The CORS headers of an actual (non-preflight) response, following the Fetch standard:
 * `*` for public, uncredentialed use; otherwise the one allowed origin reflected with `Vary: Origin`,
 * plus `Allow-Credentials` when configured. Null when the origin is not allowed (no CORS headers:
 * the browser refuses to expose the response).
 */
export function corsHeaders(
  cors: ResolvedCors,
  allowed: (origin: string) => boolean,
  origin: string | undefined,
): Record<string, string> | null {
  const expose = [...COMETA_EXPOSED_HEADERS, ...cors.exposeHeaders].join(', ');
  if (origin === undefined) return {};
  if (cors.anyOrigin && !cors.credentials) {
    return { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': expose };
  }
  if (!allowed(origin)) return null;
  const h: Record<string, string> = {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Expose-Headers': expose,
    Vary: 'Origin',
  };
  if (cors.credentials) h['Access-Control-Allow-Credentials'] = 'true';
  return h;
}

/**
 * Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`). Allowed: 204 with the
 * allowed methods and headers and `Max-Age`. Refused: 204 without CORS headers, so the browser
 * refuses the real request; returns the refusal reason for the log.
 */
export function answerPreflight(
  req: IncomingMessage,
  res: ServerResponse,
  cors: ResolvedCors,
  allowed: (origin: string) => boolean,
  methods: readonly string[],
): string | undefined {
  const origin = req.headers.origin;
  const method = String(req.headers['access-control-request-method']);
  const requested = String(req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const allowHeaders = new Set(cors.allowHeaders.map((h) => h.toLowerCase()));
  let refusal: string | undefined;
  if (origin === undefined || !allowed(origin)) refusal = 'origin not allowed';
  else if (!methods.includes(method)) refusal = `method ${method} not allowed here`;
  else {
    const bad = requested.find((h) => !allowHeaders.has(h));
    if (bad !== undefined) refusal = `header ${bad} not allowed`;
  }
  const vary = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
  if (refusal !== undefined) {
    res.writeHead(204, { Vary: vary, 'Content-Length': '0' });
    res.end();
    return refusal;
  }
  const h: Record<string, string> = {
    'Access-Control-Allow-Origin': cors.anyOrigin && !cors.credentials ? '*' : origin!,
    'Access-Control-Allow-Methods': methods.join(', '),
    'Access-Control-Allow-Headers': cors.allowHeaders.join(', '),
    'Access-Control-Max-Age': String(cors.maxAge),
    Vary: vary,
    'Content-Length': '0',
  };
  if (cors.credentials) h['Access-Control-Allow-Credentials'] = 'true';
  res.writeHead(204, h);
  res.end();
  return undefined;
}
