import { join, resolve } from 'node:path';
import { MemoryStore, type MemoryStoreOptions } from './memory.js';
import { RedisStore, type RedisStoreOptions } from './redis.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { Store, StoreContext } from './store.js';

export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { RedisStore, type RedisStoreOptions } from './redis.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export type * from './store.js';
export { StoreUnavailableError } from './store.js';

/** The store used when none is configured: SQLite in the data directory. */
export function defaultStoreSpec(dataDir: string): string {
  return `sqlite:${join(dataDir, 'cometa.db')}`;
}

/**
 * Builds a store from its spec:
 * - `memory`, optionally `memory?maxBytes=N` (estimated bytes retained over all channels, oldest
 *   dropped first; default 256 MiB, 0 no bound)
 * - `sqlite:PATH` (relative to the working directory; the directory is created), optionally
 *   `sqlite:PATH?sync=full` to fsync every commit, `cache=N` newest messages kept in memory per
 *   recently read channel (default 32, 0 off), `cacheBytes=N` their bound (default 16 MiB),
 *   `cacheChannels=N` channel counters kept in memory (default 65536), `maxBytes=N` disk quota
 *   (default 1 GiB, 0 none; oldest messages dropped first over all channels); see docs/stores.md
 * - `redis://[:PASSWORD@]HOST:PORT/DB` (also `rediss://`), optionally `?prefix=cometa:` (key
 *   prefix), `&fanout=pubsub|stream`, `&log=100000` (entries kept in the global log)
 *
 * `dataDir` is where the default SQLite file lives (used when `spec` is empty).
 */
export function createStore(spec: string, ctx: StoreContext, dataDir: string): Store {
  if (spec === '') spec = defaultStoreSpec(dataDir);
  if (spec === 'memory' || spec.startsWith('memory?')) {
    const options: MemoryStoreOptions = {};
    for (const [key, value] of new URLSearchParams(spec.slice('memory?'.length))) {
      if (key === 'maxBytes' && /^\d{1,15}$/.test(value)) options.maxBytes = Number(value);
      else throw new TypeError(`options.store: unknown memory option ${key}=${value} (expected maxBytes=N)`);
    }
    return new MemoryStore(ctx, options);
  }
  if (spec.startsWith('sqlite:')) {
    let rest = spec.slice('sqlite:'.length);
    const options: SqliteStoreOptions = {};
    const q = rest.lastIndexOf('?');
    if (q >= 0) {
      const params = new URLSearchParams(rest.slice(q + 1));
      rest = rest.slice(0, q);
      for (const [key, value] of params) {
        if (key === 'sync' && (value === 'normal' || value === 'full')) options.sync = value;
        else if (
          (key === 'cache' || key === 'cacheBytes' || key === 'cacheChannels' || key === 'maxBytes') &&
          /^\d{1,12}$/.test(value)
        )
          options[key === 'cache' ? 'cacheMessages' : key] = Number(value);
        else
          throw new TypeError(
            `options.store: unknown sqlite option ${key}=${value} (expected sync=normal|full, cache=N, cacheBytes=N, cacheChannels=N, maxBytes=N)`,
          );
      }
    }
    if (rest === '') throw new TypeError('options.store: sqlite:PATH needs a path');
    return new SqliteStore(rest === ':memory:' ? rest : resolve(rest), ctx, options);
  }
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    return new RedisStore(spec, ctx, parseRedisParams(spec));
  }
  throw new TypeError(
    `options.store: unknown store ${JSON.stringify(spec)} (expected memory, sqlite:PATH or redis://HOST:PORT/DB)`,
  );
}

function parseRedisParams(spec: string): RedisStoreOptions {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new TypeError(`options.store: invalid Redis URL ${JSON.stringify(spec)}`);
  }
  const options: RedisStoreOptions = {};
  for (const [key, value] of url.searchParams) {
    if (key === 'prefix') options.prefix = value;
    else if (key === 'fanout' && (value === 'stream' || value === 'pubsub')) options.fanout = value;
    else if (key === 'log' && /^\d+$/.test(value) && Number(value) > 0) options.logMax = Number(value);
    else
      throw new TypeError(
        `options.store: unknown Redis option ${key}=${value} (expected prefix=, fanout=stream|pubsub, log=N)`,
      );
  }
  return options;
}
