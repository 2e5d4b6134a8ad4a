import { resolve } from 'node:path';
import type { ResolvedOptions, ResolvedStreams } from '../options.js';
import { MemoryStore } from '../stores/memory.js';
import { RedisStore } from '../stores/redis.js';
import { SqliteStore } from '../stores/sqlite.js';
import type { Store } from '../stores/store.js';
import { StreamEngine } from './engine.js';
import type { StreamStorage } from './storage.js';
import { MemoryStreamStorage } from './storage-memory.js';
import { RedisStreamStorage } from './storage-redis.js';
import { SqliteStreamStorage, streamsFileOf } from './storage-sqlite.js';
import { stopSubscriptions } from './subscription-routes.js';

export { StreamEngine } from './engine.js';
export type { StreamStorage } from './storage.js';

/**
 * The spec of the store Durable Streams use: `options.streams.store`, else the hub's own store (the
 * same SQLite file or Redis server; memory for the memory store or a custom one).
 */
export function streamStoreSpec(explicit: string | null, hubStore: string | Store): string {
  if (explicit !== null) return explicit;
  if (typeof hubStore === 'string') {
    // `memory?maxBytes=N` bounds the hub's history; streams have their own bounds.
    if (hubStore === 'memory' || hubStore.startsWith('memory?')) return 'memory';
    if (!hubStore.startsWith('sqlite:')) return hubStore;
    const rest = hubStore.slice('sqlite:'.length);
    const q = rest.lastIndexOf('?');
    const file = q >= 0 ? rest.slice(0, q) : rest;
    return `sqlite:${streamsFileOf(file)}${q >= 0 ? rest.slice(q) : ''}`;
  }
  if (hubStore instanceof SqliteStore) return `sqlite:${streamsFileOf(hubStore.path)}`;
  if (hubStore instanceof RedisStore) return hubStore.url;
  if (hubStore instanceof MemoryStore) return 'memory';
  return 'memory';
}

/** Builds the stream storage for a store spec (see {@link streamStoreSpec}). */
export function createStreamStorage(spec: string): StreamStorage {
  if (spec === 'memory') return new MemoryStreamStorage();
  if (spec.startsWith('sqlite:')) {
    let path = spec.slice('sqlite:'.length);
    const q = path.lastIndexOf('?');
    const sync = q >= 0 && new URLSearchParams(path.slice(q + 1)).get('sync') === 'full' ? 'full' : 'normal';
    if (q >= 0) path = path.slice(0, q);
    return new SqliteStreamStorage(path === ':memory:' ? path : resolve(path), sync);
  }
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    return new RedisStreamStorage(spec);
  }
  throw new TypeError(`options.streams.store: unknown store ${JSON.stringify(spec)}`);
}

/** `streams.maxTotalBytes` by store when not given: a disk holds more than a heap or a Redis server. */
const DEFAULT_TOTAL_BYTES = { memory: 256 << 20, redis: 256 << 20, sqlite: 1 << 30 } as const;

/** The engine over the store `streams` names (or the hub's), with every bound resolved. */
export function newStreamEngine(streams: ResolvedStreams, o: ResolvedOptions): StreamEngine {
  const storage = createStreamStorage(streamStoreSpec(streams.store, o.store));
  return new StreamEngine(storage, {
    maxReadBytes: streams.maxReadBytes,
    maxReadRecords: o.limits.maxBatch,
    maxStreamBytes: streams.maxStreamBytes,
    maxTotalBytes: streams.maxTotalBytes ?? DEFAULT_TOTAL_BYTES[storage.kind],
    maxStreams: streams.maxStreams,
    maxProducers: streams.maxProducers,
    maxForkDepth: streams.maxForkDepth,
    maxAppendMessages: streams.maxAppendMessages,
    maxJsonDepth: o.limits.maxJsonDepth,
  });
}

/** Sweeps expired streams every this many ms (reads also drop an expired stream when they meet it). */
export const SWEEP_MS = 30_000;

/** Opens the storage and starts the expiry sweep; the returned function stops both. */
export async function startStreams(engine: StreamEngine): Promise<() => Promise<void>> {
  await engine.storage.open();
  const timer = setInterval(() => {
    engine.sweep().catch(() => {});
  }, SWEEP_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    stopSubscriptions(engine);
    engine.wakeAll();
    await engine.storage.close();
  };
}
