import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';

const gzipAsync = promisify(gzipCb);

/**
 * Whether an `Accept-Encoding` value accepts gzip: `gzip` (or `x-gzip`) with a q-value above 0, or
 * `*` above 0 when gzip is not named (RFC 9110 12.5.3). `gzip;q=0` refuses it.
 */
export function acceptsGzip(value: string | undefined): boolean {
  if (value === undefined || value.length > 1024) return false;
  let star = false;
  for (const part of value.split(',')) {
    const [rawName = '', ...params] = part.split(';');
    const name = rawName.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const [k = '', v = ''] = p.split('=');
      if (k.trim().toLowerCase() === 'q') q = Number(v.trim());
    }
    const ok = Number.isFinite(q) && q > 0;
    if (name === 'gzip' || name === 'x-gzip') return ok;
    if (name === '*') star = ok;
  }
  return star;
}

/**
 * Gzips a catch-up answer on libuv's thread pool (the event loop keeps serving), at `level`. The
 * body is at most `streams.maxReadBytes`, so the work per answer is bounded.
 */
export function gzipBody(body: Buffer, level: number): Promise<Buffer> {
  return gzipAsync(body, { level });
}
