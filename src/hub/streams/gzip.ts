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

/** What {@link Gzipper} did, for /metrics (core.ts HubStats). */
export interface GzipStats {
  /** Answers compressed here. */
  streamsGzipped: number;
  /** Gzipped answers taken from the cache (or from a compression of the same page in flight). */
  streamsGzipCached: number;
  /** Answers sent uncompressed to a client that accepts gzip, because compressions were busy. */
  streamsGzipSkipped: number;
}

/**
 * Gzips catch-up answers on libuv's thread pool (the event loop keeps serving), at `level`, with
 * what a reader can make that cost bounded: a compressed page is kept in a cache of at most
 * `cacheBytes` (least recently used first out), so re-reading a stream costs what an uncompressed
 * read does; a page already being compressed is waited for, not compressed again; and at most
 * `concurrency` compressions run at once over the hub. Past that the answer goes uncompressed
 * (identity is always acceptable, RFC 9110 12.5.3): a client cannot queue CPU work, nor hold a
 * compression's buffers, beyond those few. Each page is at most `streams.maxReadBytes`.
 */
export class Gzipper {
  readonly #level: number;
  readonly #cacheBytes: number;
  readonly #concurrency: number;
  readonly #stats: GzipStats;
  /** Compressed pages by key, oldest use first (a Map iterates in insertion order). */
  readonly #cache = new Map<string, Buffer>();
  #cached = 0;
  readonly #running = new Map<string, Promise<Buffer>>();

  constructor(level: number, cacheBytes: number, concurrency: number, stats: GzipStats) {
    this.#level = level;
    this.#cacheBytes = cacheBytes;
    this.#concurrency = concurrency;
    this.#stats = stats;
  }

  /** Bytes of compressed pages the cache holds (keys counted too). */
  get cachedBytes(): number {
    return this.#cached;
  }

  /**
   * `body` gzipped, or undefined when `concurrency` compressions are running already (send it as
   * is). `key` names the page's content: equal keys must mean equal bodies.
   */
  async gzip(key: string, body: Buffer): Promise<Buffer | undefined> {
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      this.#stats.streamsGzipCached++;
      return hit;
    }
    const running = this.#running.get(key);
    if (running !== undefined) {
      this.#stats.streamsGzipCached++;
      return running;
    }
    if (this.#running.size >= this.#concurrency) {
      this.#stats.streamsGzipSkipped++;
      return undefined;
    }
    this.#stats.streamsGzipped++;
    const work = gzipAsync(body, { level: this.#level });
    this.#running.set(key, work);
    try {
      const out = await work;
      this.#keep(key, out);
      return out;
    } finally {
      this.#running.delete(key);
    }
  }

  #keep(key: string, out: Buffer): void {
    const size = out.length + key.length;
    if (size > this.#cacheBytes) return;
    const old = this.#cache.get(key);
    if (old !== undefined) {
      this.#cache.delete(key);
      this.#cached -= old.length + key.length;
    }
    for (const [k, v] of this.#cache) {
      if (this.#cached + size <= this.#cacheBytes) break;
      this.#cache.delete(k);
      this.#cached -= v.length + k.length;
    }
    this.#cache.set(key, out);
    this.#cached += size;
  }
}
