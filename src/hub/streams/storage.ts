/**
 * What a Durable Streams backend keeps, and the small interface each store implements
 * (storage-memory.ts, storage-sqlite.ts, storage-redis.ts). The protocol's rules live in engine.ts,
 * once, above this interface: a backend only loads a stream's metadata, commits a change to one or
 * more streams atomically if nobody changed them meanwhile (compare-and-set on `version`), reads
 * records and tells every hub sharing it that a stream changed.
 */

import type { StoreBounds } from './bounds.js';

/** Idempotent producer state of one producer id on one stream (PROTOCOL.md 5.2.1). */
export interface ProducerState {
  epoch: number;
  lastSeq: number;
  /** ms since epoch of the last accepted append, for cleanup. */
  at: number;
}

/** A stream's metadata: everything but its records. Plain JSON, so every backend can keep it as text. */
export interface StreamMeta {
  /** Stream path below the prefix, e.g. `chat/42`. */
  path: string;
  /** Incarnation id: a stream deleted and created again at the same path gets a new one (ETags). */
  gen: string;
  /** Bumped by every committed change; what compare-and-set compares. */
  version: number;
  /** Content type as given at creation (parameters kept); compared without parameters. */
  contentType: string;
  ttlSeconds?: number;
  expiresAt?: string;
  /** ms since epoch of the last read or write (sliding TTL). */
  accessedAt: number;
  closed: boolean;
  /** The producer tuple whose append closed the stream, to answer its retry as a duplicate. */
  closedBy?: { id: string; epoch: number; seq: number };
  /** Offset after the last record (the tail). */
  tail: string;
  /** Records the stream holds itself (not inherited): their seq runs from base+1 to base+count. */
  count: number;
  /** Seq part of the fork offset (0 for a stream that is not a fork). */
  base: number;
  /** Last `Stream-Seq` accepted (writer coordination, compared byte-wise). */
  lastStreamSeq?: string;
  producers: Record<string, ProducerState>;
  forkedFrom?: string;
  forkOffset?: string;
  forkSubOffset?: number;
  /** Forks that read through this stream. */
  refCount: number;
  /** Deleted while forks still read it: 410 to clients, kept for the forks. */
  softDeleted: boolean;
}

/** One stored unit: a JSON message, or the bytes of one append in byte mode. */
export interface StreamRecord {
  /** Offset after this record. */
  offset: string;
  data: Buffer;
  /** Last record of its append (a JSON batch ends here): where a fork sub-offset may not pass. */
  end: boolean;
}

/** One part of an atomic commit. */
export interface StreamWrite {
  path: string;
  /** Version the caller loaded; 0 means "must not exist". */
  expect: number;
  /** New metadata, or null to delete the stream and its records. */
  meta: StreamMeta | null;
  /** Records to add after the existing ones (only with `meta`). */
  append?: StreamRecord[];
  /** Wake this stream's readers (false for changes readers cannot see: TTL clock, fork counts). */
  notify?: boolean;
}

export interface StreamStorage {
  readonly kind: 'memory' | 'sqlite' | 'redis';
  open(): Promise<void>;
  close(): Promise<void>;
  load(path: string): Promise<StreamMeta | undefined>;
  /**
   * Applies every write or none; false when a version did not match (the caller retries). A
   * commit that creates a stream or adds records past `bounds` throws 507 `ERR_STREAMS_FULL`
   * (bounds.ts) and applies nothing; deleting a stream gives its bytes back.
   */
  commit(writes: StreamWrite[], bounds: StoreBounds): Promise<boolean>;
  /**
   * Records the stream holds itself with index `from` (0-based, counted from the stream's base) on,
   * at most `limit` records and about `maxBytes` (always at least one record).
   */
  records(meta: StreamMeta, from: number, limit: number, maxBytes: number): Promise<StreamRecord[]>;
  /** Called with a path whenever a stream changes, here or on another hub sharing the store. */
  onChange(listener: (path: string) => void): void;
  /** Paths whose metadata says they may have expired, for the sweep (at most `limit`). */
  expiring(now: number, limit: number): Promise<string[]>;
}

/** The content type without parameters, lower case (`application/json; charset=utf-8` → `application/json`). */
export function baseType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** When a stream stops existing by its TTL or expiry (ms since epoch), Infinity when never. */
export function expiryOf(meta: StreamMeta): number {
  let at = Number.POSITIVE_INFINITY;
  if (meta.expiresAt !== undefined) {
    const t = Date.parse(meta.expiresAt);
    at = Number.isFinite(t) ? t : 0;
  }
  if (meta.ttlSeconds !== undefined) at = Math.min(at, meta.accessedAt + meta.ttlSeconds * 1000);
  return at;
}
