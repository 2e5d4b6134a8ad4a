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
const cache = new Map<string, Cached | null>();

async function load(file: string): Promise<Cached | null> {
  let entry = cache.get(file);
  if (entry === undefined) {
    try {
      const body = await readFile(file);
      const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`;
      entry = { body, etag, type: TYPES[extname(file)] ?? 'application/octet-stream' };
    } catch {
      entry = null;
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
  let file: string | undefined;
  if (path === '/cometa.js') file = join(ROOT, 'dist', 'cometa.min.js');
  else if (path === '/cometa.min.js.map') file = join(ROOT, 'dist', 'cometa.min.js.map');
  else if (!options.demo && options.dashboard && DASHBOARD_FILES.has(path)) {
    // Dashboard without the demo: only the dashboard page and what it loads.
    file = join(ROOT, 'demo', path === '/dashboard' ? 'dashboard.html' : path.slice(1));
  } else if (options.demo) {
    const name = path === '/' ? 'index.html' : path === '/dashboard' ? 'dashboard.html' : path.slice(1);
    const full = normalize(join(ROOT, 'demo', name));
    if (full.startsWith(join(ROOT, 'demo') + sep)) file = full;
  }
  if (file === undefined) return false;
  const entry = await load(file);
  if (entry === null) return false;
  if (req.headers['if-none-match'] === entry.etag) {
    res.writeHead(304, { ETag: entry.etag });
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
