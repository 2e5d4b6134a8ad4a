import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResolvedOptions } from '../options.js';

/** The package root (dist/hub/http → ../../..), where dist/cometa.min.js and demo/ live. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
};

/** What `/dashboard` needs when only the dashboard (not the demo) is on. */
const DASHBOARD_FILES = new Set(['/dashboard', '/dashboard.js', '/demo.css', '/charts.js']);

interface Cached {
  body: Buffer;
  etag: string;
  type: string;
}
/** Files found, by path. Misses are not kept: in demo mode any path is a candidate, and a map of
 * every path ever asked for would grow without bound. */
const cache = new Map<string, Cached>();

async function load(file: string): Promise<Cached | null> {
  let entry = cache.get(file);
  if (entry === undefined) {
    try {
      const body = await readFile(file);
      const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`;
      entry = { body, etag, type: TYPES[extname(file)] ?? 'application/octet-stream' };
    } catch {
      return null;
    }
    cache.set(file, entry);
  }
  return entry;
}

/**
 * Serves the client bundle at `/cometa.js` (always) and, with `demo: true`, the demo pages from
 * demo/ (`/` is demo/index.html, `/dashboard` demo/dashboard.html). Files are read once and
 * answered with an ETag (304 on a match). Returns false when the path is not a static file.
 */
export async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  options: ResolvedOptions,
): Promise<boolean> {
  const file = fileFor(path, options);
  if (file === undefined) return false;
  const entry = await load(file);
  if (entry === null) return false;
  if (noneMatch(req.headers['if-none-match'], entry.etag)) {
    // RFC 9110 §15.4.5: the fields a 200 would carry that describe caching, and no body or length.
    res.writeHead(304, { ETag: entry.etag, 'Cache-Control': 'no-cache' });
    res.end();
    return true;
  }
  res.writeHead(200, {
    'Content-Type': entry.type,
    'Content-Length': String(entry.body.length),
    ETag: entry.etag,
    'Cache-Control': 'no-cache',
    'Access-Control-Allow-Origin': '*',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : entry.body);
  return true;
}

/** @internal How many files are cached (tests check that misses are not kept). */
export function cachedFiles(): number {
  return cache.size;
}

/** Whether `path` names a static file the hub serves (for the 405 of other methods). */
export async function isStatic(path: string, options: ResolvedOptions): Promise<boolean> {
  const file = fileFor(path, options);
  return file !== undefined && (await load(file)) !== null;
}

function fileFor(path: string, options: ResolvedOptions): string | undefined {
  if (path === '/cometa.js') return join(ROOT, 'dist', 'cometa.min.js');
  if (path === '/cometa.min.js.map') return join(ROOT, 'dist', 'cometa.min.js.map');
  if (!options.demo && options.dashboard && DASHBOARD_FILES.has(path)) {
    // Dashboard without the demo: only the dashboard page and what it loads.
    return join(ROOT, 'demo', path === '/dashboard' ? 'dashboard.html' : path.slice(1));
  }
  if (options.demo) {
    const name = path === '/' ? 'index.html' : path === '/dashboard' ? 'dashboard.html' : path.slice(1);
    const full = normalize(join(ROOT, 'demo', name));
    if (full.startsWith(join(ROOT, 'demo') + sep)) return full;
  }
  return undefined;
}

/**
 * `If-None-Match` against the current ETag (RFC 9110 §13.1.2): `*`, or a list of entity tags
 * compared weakly (a `W/` prefix on either side is ignored).
 */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const strong = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const tag of header.split(',')) {
    const t = tag.trim();
    if ((t.startsWith('W/') ? t.slice(2) : t) === strong) return true;
  }
  return false;
}
