import { HubError } from '../http/respond.js';
import { bytesOf } from './offset.js';
import type { StreamMeta, StreamWrite } from './storage.js';

/**
 * What a store may hold over all streams (`streams.maxTotalBytes`, `streams.maxStreams`). Each
 * store checks these inside the commit that would pass them (the same transaction or Lua script),
 * so hubs sharing a Redis store cannot race past them together.
 */
export interface StoreBounds {
  /** Bytes a store holds over all streams, counted by {@link chargeOf}. */
  readonly maxBytes: number;
  /** Streams a store holds (soft-deleted ones included: their data is still kept). */
  readonly maxStreams: number;
}

/**
 * Bytes charged per stream besides its metadata text and records: the map entries, keys and index
 * rows every store keeps per stream (an empty stream measured 421 bytes of V8 heap in the memory
 * store, its metadata text 236 of them).
 */
export const STREAM_OVERHEAD = 256;

/**
 * Bytes charged per record besides its data, by store. Tiny records cost far more than their data:
 * in the memory store a record of 1 byte measured 372 bytes of V8 heap plus 8 outside it (200,000
 * records, Node 20); a Redis list entry keeps the 33-byte offset and a flag beside the data; a
 * SQLite row also repeats the stream's path (added per record by {@link recordOverhead}).
 */
const RECORD_OVERHEAD = { memory: 384, redis: 48, sqlite: 48 } as const;

/** Bytes charged per record of `meta`'s stream in a store of this kind. */
export function recordOverhead(kind: 'memory' | 'sqlite' | 'redis', meta: StreamMeta): number {
  return RECORD_OVERHEAD[kind] + (kind === 'sqlite' ? Buffer.byteLength(meta.path) : 0);
}

/**
 * The bytes a stream is charged: its metadata text (`json`, as the store keeps it), the data of
 * the records it holds itself (a fork's inherited data is its source's), and the overheads. A pure
 * function of the metadata, so a store charges and gives back exactly the same amount.
 */
export function chargeOf(meta: StreamMeta, json: string, perRecord: number): number {
  const inherited = meta.forkOffset === undefined ? 0 : bytesOf(meta.forkOffset);
  const own = bytesOf(meta.tail) - inherited;
  return STREAM_OVERHEAD + Buffer.byteLength(json) + own + meta.count * perRecord;
}

/**
 * Whether a commit makes the store hold more: it creates a stream or adds records. Only these are
 * refused at the bounds; a change of metadata alone (closing, a TTL clock, a fork count) or a
 * deletion always goes through, so a full store can still be emptied and read.
 */
export function grows(writes: readonly StreamWrite[]): boolean {
  return writes.some((w) => w.meta !== null && (w.expect === 0 || (w.append?.length ?? 0) > 0));
}

/** 507 `ERR_STREAMS_FULL`: the commit would take the store past one of its bounds. */
export function storeFull(which: 'bytes' | 'streams', bounds: StoreBounds): HubError {
  return new HubError(
    'ERR_STREAMS_FULL',
    which === 'bytes'
      ? `the streams hold at most ${bounds.maxBytes} bytes in all (streams.maxTotalBytes); nothing was stored`
      : `at most ${bounds.maxStreams} streams exist at once (streams.maxStreams); nothing was stored`,
  );
}
