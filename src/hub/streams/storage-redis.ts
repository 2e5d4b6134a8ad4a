import { Redis } from 'ioredis';
import { StoreUnavailableError } from '../stores/store.js';
import { chargeOf, recordOverhead, type StoreBounds, storeFull } from './bounds.js';
import type { StreamMeta, StreamRecord, StreamStorage, StreamWrite } from './storage.js';
import { expiryOf } from './storage.js';

/**
 * Applies a commit atomically when every version matches and the store stays within its bounds.
 * KEYS: per write its meta hash and record list, then the expiry set, then the totals hash. ARGV:
 * the write count, then per write: path, expected version, new version, meta JSON ('' deletes),
 * expiry ms ('' for none), notify (1/0), charged bytes, record count, records; then the change
 * channel, the byte bound and the stream bound. Returns 1 when applied, 0 on a version mismatch,
 * 2 past the byte bound, 3 past the stream bound (bounds.ts). The totals hash keeps `bytes` (the
 * sum of every stream's `c`) and `streams`.
 */
const COMMIT = `
local n = tonumber(ARGV[1])
local pos = 2
local dbytes, dstreams, grows = 0, 0, false
for i = 1, n do
  local state = redis.call('HMGET', KEYS[2 * i - 1], 'v', 'c')
  local v = tonumber(state[1] or '0')
  local expect, meta, count = tonumber(ARGV[pos + 1]), ARGV[pos + 3], tonumber(ARGV[pos + 7])
  if v ~= expect then return 0 end
  -- A stream is counted once it has a charge; one stored before streams were charged has none.
  local counted = state[2] ~= false
  dbytes = dbytes + tonumber(ARGV[pos + 6]) - tonumber(state[2] or '0')
  if meta == '' then
    if counted then dstreams = dstreams - 1 end
  else
    if not counted then dstreams = dstreams + 1 end
    if expect == 0 or count > 0 then grows = true end
  end
  pos = pos + 8 + count
end
local exp, totals = KEYS[2 * n + 1], KEYS[2 * n + 2]
local channel, maxBytes, maxStreams = ARGV[pos], tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2])
local now = redis.call('HMGET', totals, 'bytes', 'streams')
local bytes, streams = tonumber(now[1] or '0'), tonumber(now[2] or '0')
if grows then
  if dstreams > 0 and streams + dstreams > maxStreams then return 3 end
  if dbytes > 0 and bytes + dbytes > maxBytes then return 2 end
end
redis.call('HINCRBY', totals, 'bytes', dbytes)
redis.call('HINCRBY', totals, 'streams', dstreams)
pos = 2
for i = 1, n do
  local mk, rk = KEYS[2 * i - 1], KEYS[2 * i]
  local path, expect, version, meta = ARGV[pos], tonumber(ARGV[pos + 1]), ARGV[pos + 2], ARGV[pos + 3]
  local expires, notify, charge, count = ARGV[pos + 4], ARGV[pos + 5], ARGV[pos + 6], tonumber(ARGV[pos + 7])
  if meta == '' or expect == 0 then redis.call('DEL', rk) end
  if meta == '' then
    redis.call('DEL', mk)
    redis.call('ZREM', exp, path)
  else
    redis.call('HSET', mk, 'v', version, 'm', meta, 'c', charge)
    for j = 1, count do redis.call('RPUSH', rk, ARGV[pos + 7 + j]) end
    if expires == '' then redis.call('ZREM', exp, path) else redis.call('ZADD', exp, expires, path) end
  end
  if notify == '1' then redis.call('PUBLISH', channel, path) end
  pos = pos + 8 + count
end
return 1
`;

/**
 * Charges one stream stored before charges were kept (no `c`), once however many hubs open the
 * store together, and only from the metadata it was computed from. KEYS: meta hash, totals hash.
 * ARGV: the meta JSON read, its charge.
 */
const CHARGE_OLDER = `
if redis.call('HEXISTS', KEYS[1], 'c') == 1 or redis.call('HGET', KEYS[1], 'm') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'bytes', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'streams', 1)
return 1
`;

const OFFSET_LEN = 33;

/**
 * Durable Streams in Redis, shared by every hub on the server: a commit is one Lua script (atomic,
 * compare-and-set on each stream's version) that also publishes the changed paths, so a reader on
 * any hub wakes when a writer on another appends. Keys (prefix from `?prefix=`, default `cometa:`):
 * `ds:m:{path}` (hash: version, meta JSON, charged bytes), `ds:r:{path}` (list: one record per entry, its offset
 * then a last-of-append flag then the data), `ds:exp` (sorted set of expiry times), `ds:totals`
 * (hash: bytes and streams held, for `streams.maxTotalBytes` / `maxStreams`), `ds:charged` (set
 * once the streams stored before charges were charged), channel `ds:changed`. The script names several streams' keys, so it needs one Redis, not a cluster.
 */
export class RedisStreamStorage implements StreamStorage {
  readonly kind = 'redis' as const;
  readonly url: string;
  readonly #prefix: string;
  #cmd: Redis | undefined;
  #sub: Redis | undefined;
  readonly #listeners: Array<(path: string) => void> = [];

  constructor(url: string) {
    const u = new URL(url);
    this.#prefix = u.searchParams.get('prefix') ?? 'cometa:';
    u.search = '';
    this.url = u.toString();
  }

  #connection(name: string, commandTimeout?: number): Redis {
    const redis = new Redis(this.url, {
      lazyConnect: true,
      // While Redis is unreachable a request fails at once (503) instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
      connectionName: name,
      ...(commandTimeout === undefined ? {} : { commandTimeout }),
    });
    redis.on('error', () => {});
    return redis;
  }

  async open(): Promise<void> {
    const cmd = this.#connection('cometa-ds', 2000);
    const sub = this.#connection('cometa-ds-sub');
    try {
      await cmd.connect();
      await sub.connect();
    } catch (err) {
      cmd.disconnect();
      sub.disconnect();
      throw err;
    }
    cmd.defineCommand('dsCommit', { lua: COMMIT });
    cmd.defineCommand('dsChargeOlder', { numberOfKeys: 2, lua: CHARGE_OLDER });
    try {
      await this.#chargeOlderStreams(cmd);
    } catch (err) {
      cmd.disconnect();
      sub.disconnect();
      throw err;
    }
    sub.on('message', (_channel: string, path: string) => {
      for (const l of this.#listeners) l(path);
    });
    await sub.subscribe(`${this.#prefix}ds:changed`);
    this.#cmd = cmd;
    this.#sub = sub;
  }

  /**
   * Streams written before charges were kept count towards the bounds from the first open on: one
   * SCAN of the meta hashes, then a marker key so later opens skip it.
   */
  async #chargeOlderStreams(cmd: Redis): Promise<void> {
    const marker = `${this.#prefix}ds:charged`;
    if ((await cmd.exists(marker)) === 1) return;
    type WithCharge = Redis & {
      dsChargeOlder(meta: string, totals: string, m: string, c: string): Promise<number>;
    };
    const match = `${this.#prefix.replace(/[*?[\]\\]/g, '\\$&')}ds:m:*`;
    let cursor = '0';
    do {
      const [next, keys] = await cmd.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const [c, m] = await cmd.hmget(key, 'c', 'm');
        if (c !== null || m === null || m === undefined) continue;
        const meta = JSON.parse(m) as StreamMeta;
        const charge = chargeOf(meta, m, recordOverhead(this.kind, meta));
        await (cmd as WithCharge).dsChargeOlder(key, `${this.#prefix}ds:totals`, m, String(charge));
      }
    } while (cursor !== '0');
    await cmd.set(marker, '1');
  }

  async close(): Promise<void> {
    this.#sub?.disconnect();
    this.#cmd?.disconnect();
    this.#sub = undefined;
    this.#cmd = undefined;
  }

  #redis(): Redis {
    if (this.#cmd === undefined) throw new Error('the stream store is not open');
    return this.#cmd;
  }

  /** A command's failure (Redis unreachable, timed out) as the 503 every store answers then. */
  async #call<T>(run: (redis: Redis) => Promise<T>): Promise<T> {
    const redis = this.#redis();
    try {
      return await run(redis);
    } catch (err) {
      throw new StoreUnavailableError(`redis: ${(err as Error).message}`, { cause: err });
    }
  }

  async load(path: string): Promise<StreamMeta | undefined> {
    const text = await this.#call((r) => r.hget(`${this.#prefix}ds:m:${path}`, 'm'));
    return text === null ? undefined : (JSON.parse(text) as StreamMeta);
  }

  async commit(writes: StreamWrite[], bounds: StoreBounds): Promise<boolean> {
    const keys: string[] = [];
    const args: Array<string | Buffer> = [String(writes.length)];
    for (const w of writes) {
      keys.push(`${this.#prefix}ds:m:${w.path}`, `${this.#prefix}ds:r:${w.path}`);
      const records = w.meta === null ? [] : (w.append ?? []);
      const expires = w.meta === null ? Number.POSITIVE_INFINITY : expiryOf(w.meta);
      const text = w.meta === null ? '' : JSON.stringify(w.meta);
      const charge = w.meta === null ? 0 : chargeOf(w.meta, text, recordOverhead(this.kind, w.meta));
      args.push(
        w.path,
        String(w.expect),
        String(w.meta?.version ?? 0),
        text,
        Number.isFinite(expires) ? String(expires) : '',
        w.notify === false ? '0' : '1',
        String(charge),
        String(records.length),
      );
      for (const r of records)
        args.push(Buffer.concat([Buffer.from(r.offset), Buffer.from(r.end ? '1' : '0'), r.data]));
    }
    keys.push(`${this.#prefix}ds:exp`, `${this.#prefix}ds:totals`);
    args.push(`${this.#prefix}ds:changed`, String(bounds.maxBytes), String(bounds.maxStreams));
    type WithCommit = Redis & { dsCommit(n: number, ...rest: Array<string | Buffer>): Promise<number> };
    const done = await this.#call((r) => (r as WithCommit).dsCommit(keys.length, ...keys, ...args));
    if (done === 2) throw storeFull('bytes', bounds);
    if (done === 3) throw storeFull('streams', bounds);
    return done === 1;
  }

  async records(meta: StreamMeta, from: number, limit: number, maxBytes: number): Promise<StreamRecord[]> {
    const rows = await this.#call((r) =>
      r.lrangeBuffer(`${this.#prefix}ds:r:${meta.path}`, from, from + limit - 1),
    );
    const out: StreamRecord[] = [];
    let bytes = 0;
    for (const row of rows) {
      const data = row.subarray(OFFSET_LEN + 1);
      if (out.length > 0 && bytes + data.length > maxBytes) break;
      bytes += data.length;
      out.push({ offset: row.toString('latin1', 0, OFFSET_LEN), data, end: row[OFFSET_LEN] === 0x31 });
    }
    return out;
  }

  onChange(listener: (path: string) => void): void {
    this.#listeners.push(listener);
  }

  async expiring(now: number, limit: number): Promise<string[]> {
    return this.#call((r) => r.zrangebyscore(`${this.#prefix}ds:exp`, '-inf', now, 'LIMIT', 0, limit));
  }
}
