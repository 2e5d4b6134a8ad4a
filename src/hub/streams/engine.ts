import { randomBytes } from 'node:crypto';
import { HubError, isHubError } from '../http/respond.js';
import type { StoreBounds } from './bounds.js';
import { splitJson } from './json.js';
import { advance, bytesOf, seqOf, ZERO_OFFSET } from './offset.js';
import {
  baseType,
  expiryOf,
  type StreamMeta,
  type StreamRecord,
  type StreamStorage,
  type StreamWrite,
} from './storage.js';

/** Producer state older than this is forgotten (PROTOCOL.md 5.2.1 recommends 7 days). */
const PRODUCER_TTL_MS = 7 * 86_400_000;
/** Compare-and-set attempts before giving up on a stream other hubs keep changing. */
const MAX_ATTEMPTS = 50;

export interface CreateRequest {
  contentType: string | undefined;
  ttlSeconds: number | undefined;
  expiresAt: string | undefined;
  closed: boolean;
  body: Buffer;
  forkedFrom: string | undefined;
  forkOffset: string | undefined;
  forkSubOffset: number | undefined;
}

export interface Producer {
  id: string;
  epoch: number;
  seq: number;
}

export interface AppendRequest {
  contentType: string | undefined;
  body: Buffer;
  close: boolean;
  streamSeq: string | undefined;
  producer: Producer | undefined;
}

/** How an append ended; routes.ts turns it into the protocol's status and headers. */
export type AppendResult =
  | { kind: 'ok'; meta: StreamMeta; producer?: Producer; closedNow: boolean; records: StreamRecord[] }
  | { kind: 'duplicate'; meta: StreamMeta; lastSeq: number }
  | { kind: 'closed'; meta: StreamMeta }
  | { kind: 'stale-epoch'; epoch: number }
  | { kind: 'epoch-seq' }
  | { kind: 'seq-gap'; expected: number; received: number };

export interface ReadResult {
  records: StreamRecord[];
  /** Offset after the last record returned (the requested offset when none). */
  next: string;
  /** The answer reaches the tail as it was when read. */
  upToDate: boolean;
  meta: StreamMeta;
}

/** Lets a caller end a wait early (`onabort` is set by wait()). */
export interface WaitSignal {
  aborted: boolean;
  onabort: (() => void) | undefined;
}

/** What changed, for {@link StreamEngine.onWrite} (the bridge to cometa channels, bridge.ts). */
export type StreamEvent =
  | { kind: 'append'; meta: StreamMeta; records: StreamRecord[]; closed: boolean }
  | { kind: 'delete'; path: string };

export interface EngineLimits {
  /** Bytes of records one read returns at most (at least one record). */
  maxReadBytes: number;
  /** Records one read returns at most. */
  maxReadRecords: number;
  /** Bytes of data a stream may hold (inherited data of a fork included); appends past it get 413. */
  maxStreamBytes: number;
  /** Bytes the store holds over all streams, overheads included (bounds.ts); past it 507. */
  maxTotalBytes: number;
  /** Streams the store holds at once (soft-deleted ones included); past it 507. */
  maxStreams: number;
  /** Idempotent producers whose state one stream keeps; a new one past it gets 409. */
  maxProducers: number;
  /** How deep forks of forks go (a fork of a stream that is no fork has depth 1); deeper gets 409. */
  maxForkDepth: number;
  /** Messages one JSON-array append (or creating body) holds; more get 413. */
  maxAppendMessages: number;
  /** Nesting of arrays and objects in a JSON-mode body (`limits.maxJsonDepth`); deeper gets 400. */
  maxJsonDepth: number;
}

/**
 * The Durable Streams protocol's rules over a {@link StreamStorage}: creation and its idempotence,
 * appends (JSON mode, Stream-Seq, idempotent producers, closing), forks and soft deletion,
 * TTL/expiry, reads stitched across fork chains, and waiting for a stream to change.
 *
 * Changes to one stream are serialized in this process (PROTOCOL.md 5.2.1 asks for serialized
 * producer validation) and committed by compare-and-set, so hubs sharing a Redis store never
 * interleave two appends' validation and commit either.
 */
export class StreamEngine {
  readonly storage: StreamStorage;
  readonly limits: EngineLimits;
  readonly #bounds: StoreBounds;
  /** When a full store was last swept by {@link StreamEngine.#roomy} (ms since epoch). */
  #fullSweepAt = 0;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #waiters = new Map<string, Set<() => void>>();
  /**
   * Called after each committed append, creation with data, close or delete made through this
   * engine, before the next change to that stream starts: listeners see a stream's changes in order.
   */
  onWrite: ((event: StreamEvent) => Promise<void>) | undefined;

  constructor(storage: StreamStorage, limits: EngineLimits) {
    this.storage = storage;
    this.limits = limits;
    this.#bounds = { maxBytes: limits.maxTotalBytes, maxStreams: limits.maxStreams };
    storage.onChange((path) => this.#wake(path));
  }

  /** The live stream at `path`, or undefined; an expired one is deleted (soft when forks read it). */
  async get(path: string): Promise<StreamMeta | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const meta = await this.storage.load(path);
      if (meta === undefined) return undefined;
      if (expiryOf(meta) > Date.now()) return meta;
      if (meta.softDeleted) return meta;
      const writes = await this.#removal(meta);
      if (await this.storage.commit(writes, this.#bounds)) {
        const after = writes.find((w) => w.path === path)?.meta;
        return after ?? undefined;
      }
    }
    throw new HubError('ERR_STREAM_BUSY', 'the stream is changing too fast; retry');
  }

  /** A stream that exists and is not soft-deleted, else the protocol's 404 / 410. */
  async require(path: string): Promise<StreamMeta> {
    const meta = await this.get(path);
    if (meta === undefined) throw new HubError('ERR_STREAM_NOT_FOUND', 'no stream at this path');
    if (meta.softDeleted) throw new HubError('ERR_STREAM_GONE', 'the stream was deleted');
    return meta;
  }

  /** Creates a stream; `created` false when an identical one existed (idempotent PUT). */
  create(path: string, req: CreateRequest): Promise<{ meta: StreamMeta; created: boolean }> {
    return this.#roomy(() =>
      this.#serial(path, async () => {
        const r = await this.#retry(() => this.#create(path, req));
        if (r.created && (r.records.length > 0 || r.meta.closed)) {
          await this.#emit({ kind: 'append', meta: r.meta, records: r.records, closed: r.meta.closed });
        }
        return r;
      }),
    );
  }

  /**
   * Runs a create or append; when the store is full (507), sweeps expired streams and runs it once
   * more if that freed any: an expired stream holds its bytes until the sweep, which would
   * otherwise refuse writes for up to 30 s (index.ts SWEEP_MS) after space was due back. Outside any
   * stream's lock (the sweep takes the expired streams' locks), and at most once a second, so
   * writes refused at a full store do not each scan it.
   */
  async #roomy<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (!isHubError(err) || err.code !== 'ERR_STREAMS_FULL') throw err;
      const now = Date.now();
      if (now - this.#fullSweepAt < 1000) throw err;
      this.#fullSweepAt = now;
      if ((await this.sweep()) === 0) throw err;
      return run();
    }
  }

  async #emit(event: StreamEvent): Promise<void> {
    try {
      await this.onWrite?.(event);
    } catch {
      // A listener's failure never fails the write the stream has already committed.
    }
  }

  async #create(path: string, req: CreateRequest) {
    const existing = await this.get(path);
    if (existing !== undefined) {
      if (existing.softDeleted) {
        throw new HubError(
          'ERR_STREAM_CONFLICT',
          'a deleted stream still read by forks holds this path until they are deleted',
        );
      }
      if (!sameConfig(existing, req)) {
        throw new HubError('ERR_STREAM_CONFLICT', 'a stream exists here with another configuration');
      }
      return {
        writes: [] as StreamWrite[],
        value: { meta: existing, created: false, records: [] as StreamRecord[] },
      };
    }
    const now = Date.now();
    const meta: StreamMeta = {
      path,
      gen: randomBytes(6).toString('base64url'),
      version: 1,
      contentType: req.contentType ?? 'application/octet-stream',
      accessedAt: now,
      closed: false,
      tail: ZERO_OFFSET,
      count: 0,
      base: 0,
      producers: {},
      refCount: 0,
      softDeleted: false,
    };
    if (req.ttlSeconds !== undefined) meta.ttlSeconds = req.ttlSeconds;
    if (req.expiresAt !== undefined) meta.expiresAt = req.expiresAt;
    const writes: StreamWrite[] = [];
    const records: StreamRecord[] = [];
    if (req.forkedFrom !== undefined) {
      const source = await this.get(req.forkedFrom);
      if (source === undefined)
        throw new HubError('ERR_STREAM_NOT_FOUND', 'the source stream does not exist');
      if (source.softDeleted) {
        throw new HubError('ERR_STREAM_CONFLICT', 'the source stream was deleted (forks still read it)');
      }
      if (req.contentType !== undefined && baseType(req.contentType) !== baseType(source.contentType)) {
        throw new HubError('ERR_STREAM_CONFLICT', "a fork's Content-Type must be its source's");
      }
      await this.#checkForkDepth(source);
      const at = req.forkOffset ?? source.tail;
      if (at > source.tail) {
        throw new HubError('ERR_BAD_OFFSET', 'Stream-Fork-Offset is beyond the source stream');
      }
      meta.contentType = source.contentType;
      meta.forkedFrom = req.forkedFrom;
      meta.forkOffset = at;
      meta.tail = at;
      meta.base = seqOf(at);
      // Forks keep their own clock (PROTOCOL.md 4.2's table): inherit only when asking for none.
      if (req.ttlSeconds === undefined && req.expiresAt === undefined) {
        if (source.ttlSeconds !== undefined) meta.ttlSeconds = source.ttlSeconds;
        else if (source.expiresAt !== undefined) meta.expiresAt = source.expiresAt;
      }
      if (req.forkSubOffset !== undefined && req.forkSubOffset > 0) {
        meta.forkSubOffset = req.forkSubOffset;
        for (const r of await this.#subOffsetPrefix(source, at, req.forkSubOffset)) {
          records.push(r);
          meta.tail = r.offset;
        }
      }
      writes.push({
        path: source.path,
        expect: source.version,
        meta: bump(source, { refCount: source.refCount + 1 }),
        notify: false,
      });
    }
    if (req.body.length > 0) {
      for (const data of this.#payloads(meta, req.body, true)) {
        meta.tail = advance(meta.tail, data.length);
        records.push({ offset: meta.tail, data, end: false });
      }
    }
    if (records.length > 0) records[records.length - 1]!.end = true;
    if (bytesOf(meta.tail) > this.limits.maxStreamBytes) {
      throw new HubError('ERR_STREAM_FULL', `a stream holds at most ${this.limits.maxStreamBytes} bytes`);
    }
    meta.count = records.length;
    meta.closed = req.closed;
    writes.unshift({ path, expect: 0, meta, append: records });
    return { writes, value: { meta, created: true, records } };
  }

  /**
   * Refuses a fork of `source` deeper than `maxForkDepth` (a fork of a stream that is no fork has
   * depth 1): every read of a fork walks its sources (#inherited), a load and a records call each.
   */
  async #checkForkDepth(source: StreamMeta): Promise<void> {
    const max = this.limits.maxForkDepth;
    let depth = 1;
    let from = source.forkedFrom;
    while (from !== undefined && depth <= max) {
      const up = await this.storage.load(from);
      if (up === undefined) break;
      depth++;
      from = up.forkedFrom;
    }
    if (depth > max) {
      throw new HubError('ERR_FORK_TOO_DEEP', `forks of forks go at most ${max} deep (streams.maxForkDepth)`);
    }
  }

  /** The first `n` messages (JSON) or bytes past `at` in `source`, as the fork's own first records. */
  async #subOffsetPrefix(source: StreamMeta, at: string, n: number): Promise<StreamRecord[]> {
    const { records } = await this.#readFrom(source, at, this.limits.maxReadBytes, n);
    if (records.length === 0) {
      throw new HubError('ERR_BAD_OFFSET', 'Stream-Fork-Sub-Offset: no data past Stream-Fork-Offset');
    }
    if (baseType(source.contentType) === 'application/json') {
      const out: StreamRecord[] = [];
      for (const r of records) {
        out.push({ offset: r.offset, data: r.data, end: false });
        if (out.length === n) return out;
        if (r.end) break;
      }
      throw new HubError('ERR_BAD_OFFSET', 'Stream-Fork-Sub-Offset is past the end of that append');
    }
    const first = records[0]!;
    if (n > first.data.length) {
      throw new HubError('ERR_BAD_OFFSET', 'Stream-Fork-Sub-Offset is past the end of that append');
    }
    return [{ offset: advance(at, n), data: first.data.subarray(0, n), end: true }];
  }

  /** The records an append or initial body stores (one per JSON message, else one). */
  #payloads(meta: StreamMeta, body: Buffer, creating: boolean): Buffer[] {
    if (baseType(meta.contentType) === 'application/json') {
      return splitJson(body, creating, {
        maxMessages: this.limits.maxAppendMessages,
        maxDepth: this.limits.maxJsonDepth,
      });
    }
    return [body];
  }

  /** Appends (and/or closes). Validation order follows PROTOCOL.md 5.2's error precedence. */
  append(path: string, req: AppendRequest): Promise<AppendResult> {
    return this.#roomy(() =>
      this.#serial(path, async () => {
        const r = await this.#retry(() => this.#append(path, req));
        if (r.kind === 'ok' && (r.records.length > 0 || r.closedNow)) {
          await this.#emit({ kind: 'append', meta: r.meta, records: r.records, closed: r.closedNow });
        }
        return r;
      }),
    );
  }

  async #append(path: string, req: AppendRequest) {
    const meta = await this.require(path);
    const p = req.producer;
    const none = (value: AppendResult) => ({ writes: [] as StreamWrite[], value });
    if (meta.closed) {
      const c = meta.closedBy;
      if (p !== undefined && c !== undefined && c.id === p.id && c.epoch === p.epoch && c.seq === p.seq) {
        return none({ kind: 'duplicate', meta, lastSeq: p.seq });
      }
      // Closing a closed stream again is idempotent (no body, no producer).
      if (req.close && req.body.length === 0 && p === undefined) {
        return none({ kind: 'ok', meta, closedNow: false, records: [] });
      }
      return none({ kind: 'closed', meta });
    }
    if (req.body.length > 0 && baseType(req.contentType) !== baseType(meta.contentType)) {
      throw new HubError('ERR_STREAM_CONFLICT', `this stream's Content-Type is ${meta.contentType}`);
    }
    const next = bump(meta, {});
    const now = Date.now();
    if (p !== undefined) {
      for (const [id, s] of Object.entries(next.producers))
        if (now - s.at > PRODUCER_TTL_MS) delete next.producers[id];
      const state = next.producers[p.id];
      if (state === undefined) {
        if (p.seq !== 0) return none({ kind: 'seq-gap', expected: 0, received: p.seq });
        // Every append rewrites the whole table with the stream's metadata: bound its size.
        if (Object.keys(next.producers).length >= this.limits.maxProducers) {
          throw new HubError(
            'ERR_TOO_MANY_PRODUCERS',
            `a stream keeps state for at most ${this.limits.maxProducers} producers (streams.maxProducers)`,
          );
        }
      } else if (p.epoch < state.epoch) {
        return none({ kind: 'stale-epoch', epoch: state.epoch });
      } else if (p.epoch > state.epoch) {
        if (p.seq !== 0) return none({ kind: 'epoch-seq' });
      } else if (p.seq <= state.lastSeq) {
        return none({ kind: 'duplicate', meta, lastSeq: state.lastSeq });
      } else if (p.seq !== state.lastSeq + 1) {
        return none({ kind: 'seq-gap', expected: state.lastSeq + 1, received: p.seq });
      }
      next.producers[p.id] = { epoch: p.epoch, lastSeq: p.seq, at: now };
    }
    if (req.streamSeq !== undefined) {
      if (meta.lastStreamSeq !== undefined && req.streamSeq <= meta.lastStreamSeq) {
        throw new HubError('ERR_STREAM_CONFLICT', 'Stream-Seq must increase (byte-wise) from the last one');
      }
      next.lastStreamSeq = req.streamSeq;
    }
    const records: StreamRecord[] = [];
    if (req.body.length > 0) {
      for (const data of this.#payloads(meta, req.body, false)) {
        next.tail = advance(next.tail, data.length);
        records.push({ offset: next.tail, data, end: false });
      }
      records[records.length - 1]!.end = true;
      next.count += records.length;
      if (bytesOf(next.tail) > this.limits.maxStreamBytes) {
        throw new HubError('ERR_STREAM_FULL', `a stream holds at most ${this.limits.maxStreamBytes} bytes`);
      }
    }
    if (req.close) {
      next.closed = true;
      if (p !== undefined) next.closedBy = { id: p.id, epoch: p.epoch, seq: p.seq };
    }
    next.accessedAt = now;
    const value: AppendResult = { kind: 'ok', meta: next, closedNow: req.close, records };
    if (p !== undefined) value.producer = p;
    return { writes: [{ path, expect: meta.version, meta: next, append: records }], value };
  }

  /** DELETE: soft when forks read the stream, else removes it and any soft-deleted sources freed. */
  delete(path: string): Promise<void> {
    return this.#serial(path, async () => {
      const soft = await this.#retry(async () => {
        const meta = await this.require(path);
        if (meta.refCount > 0) {
          return {
            writes: [{ path, expect: meta.version, meta: softDeleted(meta) }],
            value: true,
          };
        }
        return { writes: await this.#removal(meta), value: false };
      });
      void soft;
      await this.#emit({ kind: 'delete', path });
    });
  }

  /** Writes that remove `meta` (or soft-delete it when forks read it) and free its sources. */
  async #removal(meta: StreamMeta): Promise<StreamWrite[]> {
    if (meta.refCount > 0) return [{ path: meta.path, expect: meta.version, meta: softDeleted(meta) }];
    const writes: StreamWrite[] = [{ path: meta.path, expect: meta.version, meta: null }];
    let from = meta.forkedFrom;
    while (from !== undefined) {
      const source = await this.storage.load(from);
      if (source === undefined) break;
      if (source.refCount <= 1 && source.softDeleted) {
        writes.push({ path: source.path, expect: source.version, meta: null });
        from = source.forkedFrom;
      } else {
        writes.push({
          path: source.path,
          expect: source.version,
          meta: bump(source, { refCount: Math.max(0, source.refCount - 1) }),
          notify: false,
        });
        break;
      }
    }
    return writes;
  }

  /** Resets a TTL stream's idle clock (reads and writes do; HEAD does not). */
  async touch(meta: StreamMeta): Promise<void> {
    if (meta.ttlSeconds === undefined) return;
    await this.#serial(meta.path, async () => {
      const now = await this.storage.load(meta.path);
      if (now === undefined || now.gen !== meta.gen) return;
      await this.storage.commit(
        [{ path: now.path, expect: now.version, meta: bump(now, { accessedAt: Date.now() }), notify: false }],
        this.#bounds,
      );
    });
  }

  /**
   * Records after `offset` (a real offset, not a sentinel), stitched across the fork chain: data
   * before a fork's offset comes from its source, the rest from the fork. `maxBytes` (at most
   * `streams.maxReadBytes`) lets a reader take smaller pages; one record always comes whole.
   */
  read(meta: StreamMeta, offset: string, maxBytes = this.limits.maxReadBytes): Promise<ReadResult> {
    const cap = Math.min(maxBytes, this.limits.maxReadBytes);
    return this.#readFrom(meta, offset, cap, this.limits.maxReadRecords);
  }

  async #readFrom(
    meta: StreamMeta,
    offset: string,
    maxBytes: number,
    maxRecords: number,
  ): Promise<ReadResult> {
    const records: StreamRecord[] = [];
    if (meta.forkedFrom !== undefined && meta.forkOffset !== undefined && offset < meta.forkOffset) {
      await this.#inherited(meta.forkedFrom, offset, meta.forkOffset, maxBytes, maxRecords, records);
    }
    let bytes = 0;
    for (const r of records) bytes += r.data.length;
    const lastInherited = records[records.length - 1];
    const inheritedAll = lastInherited === undefined || lastInherited.offset === meta.forkOffset;
    if (inheritedAll && records.length < maxRecords && (records.length === 0 || bytes < maxBytes)) {
      const from = Math.max(0, seqOf(offset) - meta.base);
      const upTo = Math.min(meta.count, from + maxRecords - records.length);
      if (from < upTo) {
        const own = await this.storage.records(meta, from, upTo - from, Math.max(1, maxBytes - bytes));
        for (const r of own) records.push(r);
      }
    }
    const last = records[records.length - 1];
    const next = last === undefined ? offset : last.offset;
    return { records, next, upToDate: next >= meta.tail, meta };
  }

  /** Appends to `out` the records of `path` (and its sources) after `offset`, up to `cap`. */
  async #inherited(
    path: string,
    offset: string,
    cap: string,
    maxBytes: number,
    maxRecords: number,
    out: StreamRecord[],
  ): Promise<void> {
    const source = await this.storage.load(path);
    if (source === undefined) return;
    if (source.forkedFrom !== undefined && source.forkOffset !== undefined && offset < source.forkOffset) {
      const inner = source.forkOffset < cap ? source.forkOffset : cap;
      await this.#inherited(source.forkedFrom, offset, inner, maxBytes, maxRecords, out);
      if (out.length >= maxRecords) return;
      if (out.length > 0 && out[out.length - 1]!.offset < inner) return;
    }
    let bytes = 0;
    for (const r of out) bytes += r.data.length;
    if (out.length > 0 && bytes >= maxBytes) return;
    const from = Math.max(0, seqOf(offset) - source.base);
    const upTo = Math.min(source.count, seqOf(cap) - source.base, from + maxRecords - out.length);
    if (from >= upTo) return;
    for (const r of await this.storage.records(source, from, upTo - from, Math.max(1, maxBytes - bytes))) {
      if (r.offset > cap) break;
      out.push(r);
    }
  }

  /**
   * Resolves true when the stream at `path` changes (append, close, delete), false after `ms`.
   * The caller re-reads; a change may not concern its offset (it then waits again).
   */
  wait(path: string, ms: number, signal?: WaitSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(path);
      if (set === undefined) {
        set = new Set();
        this.#waiters.set(path, set);
      }
      const waiters = set;
      const done = (changed: boolean) => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(path) === waiters) this.#waiters.delete(path);
        resolve(changed);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      waiters.add(wake);
      if (signal !== undefined) signal.onabort = () => done(false);
    });
  }

  /** Ends every wait (hub shutdown). */
  wakeAll(): void {
    for (const path of [...this.#waiters.keys()]) this.#wake(path);
  }

  #wake(path: string): void {
    const set = this.#waiters.get(path);
    if (set === undefined) return;
    for (const wake of [...set]) wake();
  }

  /** Deletes streams past their TTL or expiry (at most `limit` per call). */
  async sweep(limit = 100): Promise<number> {
    const paths = await this.storage.expiring(Date.now(), limit);
    for (const path of paths) await this.#serial(path, () => this.get(path));
    return paths.length;
  }

  async #retry<T>(plan: () => Promise<{ writes: StreamWrite[]; value: T }>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { writes, value } = await plan();
      if (writes.length === 0 || (await this.storage.commit(writes, this.#bounds))) return value;
    }
    throw new HubError('ERR_STREAM_BUSY', 'the stream is changing too fast; retry');
  }

  #serial<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(path);
    const run = prev === undefined ? fn() : prev.then(fn, fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.#locks.set(path, tail);
    void tail.then(() => {
      if (this.#locks.get(path) === tail) this.#locks.delete(path);
    });
    return run;
  }
}

/**
 * `meta` soft-deleted: kept for the forks that read it, 410 to everyone else. Its TTL and expiry
 * go (nothing can read or renew it any more), so the sweep does not meet it again and again.
 */
function softDeleted(meta: StreamMeta): StreamMeta {
  const next = bump(meta, { softDeleted: true });
  delete next.ttlSeconds;
  delete next.expiresAt;
  return next;
}

/** A copy of `meta` with `changes`, one version on. */
function bump(meta: StreamMeta, changes: Partial<StreamMeta>): StreamMeta {
  return {
    ...meta,
    producers: { ...meta.producers },
    ...changes,
    version: meta.version + 1,
  };
}

/** Whether a PUT asks for exactly the stream that exists (PROTOCOL.md 5.1 and 4.2). */
function sameConfig(meta: StreamMeta, req: CreateRequest): boolean {
  const type =
    req.contentType ?? (req.forkedFrom !== undefined ? meta.contentType : 'application/octet-stream');
  if (baseType(type) !== baseType(meta.contentType)) return false;
  if (req.closed !== meta.closed) return false;
  if (req.forkedFrom !== meta.forkedFrom) return false;
  if (req.forkedFrom !== undefined && req.forkOffset !== undefined && req.forkOffset !== meta.forkOffset)
    return false;
  if ((req.forkSubOffset ?? 0) !== (meta.forkSubOffset ?? 0)) return false;
  if (req.forkedFrom === undefined || req.ttlSeconds !== undefined || req.expiresAt !== undefined) {
    if (req.ttlSeconds !== meta.ttlSeconds || req.expiresAt !== meta.expiresAt) return false;
  }
  return true;
}
