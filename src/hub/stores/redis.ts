import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { newEpoch } from '../../protocol/cursor.js';
import type { PresenceBackend, PresenceMember } from '../presence.js';
import { ActiveCollector, channelHead, planActive } from './active-index.js';
import { RedisPresence } from './redis-presence.js';
import {
  type ActiveChannels,
  type ChannelGap,
  type ChannelInfo,
  channelPage,
  type GapReason,
  type IdempotencyKey,
  type LastResult,
  mergePage,
  type OnceResult,
  type ReadResult,
  type Store,
  type StoreContext,
  type StoredMessage,
  type StoreEvent,
  StoreUnavailableError,
} from './store.js';

/** How a hub learns about messages appended by any hub. See docs/stores.md for the measurements. */
export type RedisFanout = 'stream' | 'pubsub';

export interface RedisStoreOptions {
  /** Prefix of every key (default `cometa:`); hubs sharing channels must use the same one. */
  prefix?: string;
  /**
   * `pubsub` (default): the append script also PUBLISHes the message; a hub delivers a push when
   * its seq is the next one and otherwise (a hole, a reconnect, once a second when idle) catches
   * up from the global log. `stream`: each hub reads the global log with a blocking XREAD from
   * the last id it saw. Measured in docs/stores.md: pubsub has the lower latency and the higher
   * publish rate; both lose nothing.
   */
  fanout?: RedisFanout;
  /** Entries kept (approximately) in the global log that hubs catch up from. Default 100000. */
  logMax?: number;
  /** Milliseconds before a Redis command is given up (append rejects). Default 2000. */
  commandTimeout?: number;
}

type Id = readonly [seq: number, sub: number];
type Entry = [id: string, fields: string[]];

/**
 * Every message goes to the channel's stream and to the global log under the id `${seq}-0`, in
 * one atomic script, so the global order is the order of INCR. Drops go to the log as
 * `${head}-N` entries (N >= 1) so every hub emits `deleted` too, in order.
 *
 * The channel is scored by its seq in `active` (KEYS[7]) and in its head's `active:HEAD` (KEYS[8]).
 * Which appends the head sets hold: KEYS[9], `active-last`, the newest seq indexed, and KEYS[10],
 * `active-from`, where the unbroken run of indexed seqs up to it starts. An append by a hub of a
 * version that does not index heads takes a seq without touching `active-last`, so the next one
 * here finds it behind and starts the run again (see activeChannels). One `SET ... GET` per append
 * reads and moves `active-last`; `active-from` is written only when a run starts.
 */
const APPEND = `
local ep = redis.call('GET', KEYS[2])
if ep ~= ARGV[1] then return redis.error_reply('COMETAEPOCH ' .. (ep or '')) end
local seq = redis.call('INCR', KEYS[1])
local id = seq .. '-0'
redis.call('XADD', KEYS[3], id, 'e', ARGV[3], 'd', ARGV[4], 't', ARGV[5])
redis.call('HSET', KEYS[4], 'last', seq)
redis.call('SADD', KEYS[6], ARGV[2])
redis.call('ZADD', KEYS[7], seq, ARGV[2])
redis.call('ZADD', KEYS[8], seq, ARGV[2])
if tonumber(redis.call('SET', KEYS[9], seq, 'GET')) ~= seq - 1 then redis.call('SET', KEYS[10], seq) end
local max = tonumber(ARGV[6])
local len = redis.call('XLEN', KEYS[3])
if len > max then
  local old = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', len - max)
  local cut = old[#old][1]
  redis.call('XTRIM', KEYS[3], 'MAXLEN', max)
  redis.call('HSET', KEYS[4], 'floor', string.match(cut, '^%d+'), 'reason', 'trimmed')
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], id, 'c', ARGV[2], 'e', ARGV[3], 'd', ARGV[4], 't', ARGV[5])
if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], id .. ' ' .. ARGV[9] .. '\\n' .. ARGV[4]) end
return seq
`;

/**
 * APPEND for a publish with an idempotency key (KEYS[11] the channel's key hash, KEYS[12] its keys by
 * expiry; ARGV[10] key, [11] fingerprint, [12] now, [13] window ms, [14] keys kept per channel). In
 * the same script as the append, so every hub sees the key with the message: a known key answers
 * {seq, fingerprint} and stores nothing; otherwise the append's seq, with the key remembered.
 */
const APPEND_ONCE = APPEND.replace(
  "local seq = redis.call('INCR', KEYS[1])",
  `local now = tonumber(ARGV[12])
local gone = redis.call('ZRANGEBYSCORE', KEYS[12], '-inf', now, 'LIMIT', 0, 100)
if #gone > 0 then
  redis.call('ZREM', KEYS[12], unpack(gone))
  redis.call('HDEL', KEYS[11], unpack(gone))
end
local hit = redis.call('HGET', KEYS[11], ARGV[10])
if hit then
  local sp = string.find(hit, ' ')
  return {tonumber(string.sub(hit, 1, sp - 1)), string.sub(hit, sp + 1)}
end
local seq = redis.call('INCR', KEYS[1])`,
).replace(
  /return seq\n$/,
  `redis.call('HSET', KEYS[11], ARGV[10], seq .. ' ' .. ARGV[11])
redis.call('ZADD', KEYS[12], now + tonumber(ARGV[13]), ARGV[10])
local extra = redis.call('ZCARD', KEYS[12]) - tonumber(ARGV[14])
if extra > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[12], extra)
  for i = 1, #popped, 2 do redis.call('HDEL', KEYS[11], popped[i]) end
end
redis.call('PEXPIRE', KEYS[11], ARGV[13])
redis.call('PEXPIRE', KEYS[12], ARGV[13])
return seq
`,
);

const DROP = `
local ep = redis.call('GET', KEYS[5])
if ep ~= ARGV[1] then return redis.error_reply('COMETAEPOCH ' .. (ep or '')) end
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '0')
if last > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'floor', last, 'reason', 'deleted')
end
local seq = tonumber(redis.call('GET', KEYS[4]) or '0')
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], seq .. '-*', 'x', ARGV[2], 't', ARGV[3])
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], id .. ' ' .. ARGV[6] .. '\\n') end
return id
`;

/**
 * Age retention for a batch of channels: KEYS are (stream, meta) pairs, ARGV the cutoffs. Removes
 * each stream's prefix (in seq order) of entries older than the cutoff, like the memory store.
 */
const SWEEP = `
local function ftime(fields)
  for i = 1, #fields, 2 do if fields[i] == 't' then return tonumber(fields[i + 1]) end end
  return 0
end
for i = 1, #ARGV do
  local s = KEYS[2 * i - 1]
  local cutoff = tonumber(ARGV[i])
  local first = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)
  if #first > 0 and ftime(first[1][2]) < cutoff then
    local removed = nil
    local start = '-'
    while true do
      local batch = redis.call('XRANGE', s, start, '+', 'COUNT', 200)
      local stop = #batch < 200
      for _, e in ipairs(batch) do
        if ftime(e[2]) >= cutoff then stop = true break end
        removed = e[1]
      end
      if stop or removed == nil then break end
      start = '(' .. removed
    end
    local floor = tonumber(string.match(removed, '^%d+'))
    redis.call('XTRIM', s, 'MINID', (floor + 1) .. '-0')
    redis.call('HSET', KEYS[2 * i], 'floor', floor, 'reason', 'trimmed')
  end
end
return 0
`;

/**
 * Starts a new epoch when the stored one is gone (Redis restarted empty) or when the caller saw
 * the seq go backwards under the same epoch (Redis restarted from an older snapshot). `base` is
 * the log id the new epoch starts after, so hubs adopting it do not replay older entries.
 */
const ROTATE = `
local cur = redis.call('GET', KEYS[1])
if (not cur) or (ARGV[3] == '1' and cur == ARGV[1]) then
  local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  local base = seq .. '-0'
  if #last > 0 then base = last[1][1] end
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[4], base)
  return {ARGV[2], base}
end
return {cur, redis.call('GET', KEYS[4]) or '0-0'}
`;

/**
 * One channel's share of a read page (KEYS[1]: its stream): entries from ARGV[1] (an XRANGE start)
 * or, when ARGV[4] > 0, from the ARGV[4]-th newest, fetched 16 at a time until ARGV[2] entries or
 * until their data passes ARGV[3] bytes (-1: no bound; the entry that passes it is included). So a
 * page of large messages reads and sends no more than that. Returns {stopped, entries}: stopped is
 * 1 when more entries may follow the last one returned.
 */
const READ_PAGE = `
local stream = KEYS[1]
local start = ARGV[1]
local max = tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
if n > 0 then
  local seen = 0
  local from = nil
  local top = '+'
  while seen < n do
    local want = math.min(16, n - seen)
    local batch = redis.call('XREVRANGE', stream, top, '-', 'COUNT', want)
    for _, e in ipairs(batch) do
      seen = seen + 1
      from = e[1]
    end
    if #batch < want then break end
    top = '(' .. from
  end
  if from == nil then return {0, {}} end
  start = from
end
local out = {}
local bytes = 0
while #out < max do
  local want = math.min(16, max - #out)
  local batch = redis.call('XRANGE', stream, start, '+', 'COUNT', want)
  for _, e in ipairs(batch) do
    out[#out + 1] = e
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'd' then bytes = bytes + #f[i + 1] end
    end
    if maxBytes >= 0 and bytes > maxBytes then return {1, out} end
  end
  if #batch < want then return {0, out} end
  start = '(' .. batch[#batch][1]
end
return {1, out}
`;

/** Entries of a sorted set of channels read per round trip by activeChannels. */
const ACTIVE_PAGE = 1000;

interface Script {
  lua: string;
  sha: string;
}

export function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** Takes or renews the sweeper lease (KEYS[1]) for ARGV[1] for ARGV[2] ms; 1 when held. */
const LEASE = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

const SCRIPTS = {
  lease: script(LEASE),
  append: script(APPEND),
  appendOnce: script(APPEND_ONCE),
  drop: script(DROP),
  sweep: script(SWEEP),
  rotate: script(ROTATE),
  page: script(READ_PAGE),
};

/**
 * History in Redis, shared by any number of hub processes. Key layout (prefix `cometa:`):
 *
 * - `cometa:seq`: the global seq (INCR); `cometa:epoch`: the epoch (SET NX); `cometa:base`: log id
 *   an epoch started after (only when rotated over surviving data)
 * - `cometa:s:CHANNEL`: the channel's stream, ids `${seq}-0`, fields e (event), d (JSON), t (time)
 * - `cometa:c:CHANNEL`: hash with `last` (newest seq), `floor` and `reason` (gap floor)
 * - `cometa:channels`: set of channel names (for age sweeps)
 * - `cometa:active`: sorted set of channel names by their newest seq (wildcard resumes)
 * - `cometa:active:HEAD`: the same, of the channels whose first segment is HEAD (wildcard resumes
 *   of patterns starting with it); `cometa:active-last`, `cometa:active-from`: which seqs they
 *   hold (see APPEND)
 * - `cometa:i:CHANNEL`, `cometa:iz:CHANNEL`: idempotency keys (hash key -> "seq fingerprint", and
 *   by expiry), expiring with their window
 * - `cometa:log`: global capped stream of every message (fields c, e, d, t) and drop (x, t); hubs
 *   read it to fan out and to catch up after a disconnect
 * - `cometa:fanout`: pub/sub channel (fanout=pubsub only)
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  epoch = '';
  readonly url: string;
  readonly #ctx: StoreContext;
  readonly #prefix: string;
  readonly #fanout: RedisFanout;
  readonly #logMax: number;
  readonly #commandTimeout: number;
  /** The connection's last error (ECONNREFUSED, ENOTFOUND...), which ioredis only emits as an event. */
  #lastError: Error | undefined;
  #cmd: Redis | undefined;
  #reader: Redis | undefined;
  #listener: (event: StoreEvent) => void = () => {};
  #closed = false;
  /** Id of the last log entry handed to the listener. */
  #lastId: Id = [0, 0];
  /** Highest seq this hub knows was assigned in this epoch (delivered or appended here). */
  #known = 0;
  /** Bumped whenever the epoch is adopted: in-flight reads from before are discarded. */
  #gen = 0;
  #epochTask: Promise<void> | undefined;
  #cmdUp = false;
  #readerUp = false;
  #up = false;
  #opened = false;
  #catchUp: { running: boolean; again: boolean } = { running: false, again: false };
  #loop: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Names this store instance (the sweeper lease). */
  readonly #id = randomUUID();
  /** Where the age sweep's SSCAN goes on from. */
  #sweepCursor = '0';

  constructor(url: string, ctx: StoreContext, options: RedisStoreOptions = {}) {
    this.url = url;
    this.#ctx = ctx;
    this.#prefix = options.prefix ?? 'cometa:';
    this.#fanout = options.fanout ?? 'pubsub';
    this.#logMax = options.logMax ?? 100_000;
    this.#commandTimeout = options.commandTimeout ?? 2000;
  }

  /** `host:port` of the server, for log lines (never the URL: it may hold a password). */
  get address(): string {
    return redisAddress(this.url);
  }

  get fanout(): RedisFanout {
    return this.#fanout;
  }

  #k(name: string): string {
    return this.#prefix + name;
  }

  #connection(role: 'cmd' | 'reader'): Redis {
    const redis = new Redis(this.url, {
      lazyConnect: true,
      protocol: 2,
      // Never queue: while Redis is unreachable a publish fails at once with 503, and a command
      // cut off by a disconnect fails instead of being silently resent.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: true,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
      connectionName: `cometa-${role}`,
      // Blocking reads (the fan-out XREAD) must not hit the command timeout; they get a safety net.
      ...(role === 'cmd' ? { commandTimeout: this.#commandTimeout } : { blockingTimeout: 5000 }),
    });
    // Surfaced as status events and rejected commands; the last one explains a failed open().
    redis.on('error', (err: Error) => {
      this.#lastError = err;
    });
    return redis;
  }

  async open(): Promise<void> {
    const cmd = this.#connection('cmd');
    const reader = this.#connection('reader');
    try {
      await cmd.connect();
      await reader.connect();
      await cmd.set(this.#k('epoch'), newEpoch(), 'NX');
      const [epoch, seq, base, last] = await this.#multi(cmd, (m) =>
        m
          .get(this.#k('epoch'))
          .get(this.#k('seq'))
          .get(this.#k('base'))
          .xrevrange(this.#k('log'), '+', '-', 'COUNT', 1),
      );
      this.epoch = String(epoch);
      const head = Number(seq ?? 0);
      this.#known = head;
      this.#lastId = maxId([head, 0], parseId(String(base ?? '0-0')));
      const lastEntry = (last as Entry[])[0];
      if (lastEntry) this.#lastId = maxId(this.#lastId, parseId(lastEntry[0]));
    } catch (err) {
      cmd.disconnect();
      reader.disconnect();
      // One line that names the server and why, not ioredis' "Connection is closed."
      const why = this.#lastError?.message ?? (err instanceof Error ? err.message : String(err));
      throw new StoreUnavailableError(`redis store: cannot reach ${redisAddress(this.url)}: ${why}`, {
        cause: err,
      });
    }
    this.#cmd = cmd;
    this.#reader = reader;
    this.#cmdUp = true;
    this.#readerUp = true;
    this.#up = true;
    this.#opened = true;

    cmd.on('close', () => this.#setUp('cmd', false));
    cmd.on('ready', () => void this.#onCmdReady(cmd));

    if (this.#fanout === 'stream') {
      this.#loop = this.#readLoop(reader);
    } else {
      reader.on('close', () => this.#setUp('reader', false));
      reader.on('ready', () => {
        this.#setUp('reader', true);
        this.#scheduleCatchUp();
      });
      reader.on('message', (_channel: string, payload: string) => this.#onPush(payload));
      try {
        await reader.subscribe(this.#k('fanout'));
      } catch (err) {
        await this.close();
        throw unavailable(err);
      }
      // Anything appended between the head read above and SUBSCRIBE.
      this.#scheduleCatchUp();
      // A safety net for pushes lost in a window the events above do not cover (e.g. between a
      // reconnect and the resubscribe): an idle hub still converges within a second.
      this.#timer = setInterval(() => this.#scheduleCatchUp(), 1000);
      this.#timer.unref();
    }
  }

  /** A reconnect may be to a Redis that restarted: check the epoch before saying we are up. */
  async #onCmdReady(cmd: Redis): Promise<void> {
    while (!this.#closed && cmd.status === 'ready') {
      try {
        await this.#checkEpoch();
        this.#setUp('cmd', cmd.status === 'ready');
        return;
      } catch {
        await sleep(200);
      }
    }
  }

  async head(): Promise<number> {
    const epoch = this.epoch;
    let replies: unknown[];
    try {
      replies = await this.#multi(this.#redis(), (m) => m.get(this.#k('epoch')).get(this.#k('seq')));
    } catch (err) {
      throw unavailable(err);
    }
    if (replies[0] !== epoch || this.epoch !== epoch) await this.#epochMoved();
    return Number(replies[1] ?? 0);
  }

  listen(listener: (event: StoreEvent) => void): void {
    this.#listener = listener;
  }

  async append(channel: string, event: string, data: unknown, time: number): Promise<StoredMessage> {
    const json = data === undefined ? '' : JSON.stringify(data);
    const { maxMessages } = this.#ctx.retentionFor(channel);
    const pub = this.#fanout === 'pubsub' ? this.#k('fanout') : '';
    const header = pub ? JSON.stringify([channel, event, time]) : '';
    for (let attempt = 0; ; attempt++) {
      const epoch = this.epoch;
      try {
        const seq = Number(
          await this.#eval(
            SCRIPTS.append,
            [
              this.#k('seq'),
              this.#k('epoch'),
              this.#k(`s:${channel}`),
              this.#k(`c:${channel}`),
              this.#k('log'),
              this.#k('channels'),
              this.#k('active'),
              this.#k(`active:${channelHead(channel)}`),
              this.#k('active-last'),
              this.#k('active-from'),
            ],
            [epoch, channel, event, json, time, Math.max(0, maxMessages), this.#logMax, pub, header],
          ),
        );
        if (this.epoch === epoch && seq > this.#known) this.#known = seq;
        return json === '' ? { seq, channel, event, data, time } : { seq, channel, event, data, time, json };
      } catch (err) {
        if (attempt === 0 && isEpochError(err)) {
          await this.#checkEpoch();
          continue;
        }
        throw unavailable(err);
      }
    }
  }

  async appendOnce(
    channel: string,
    event: string,
    data: unknown,
    time: number,
    k: IdempotencyKey,
  ): Promise<OnceResult> {
    const json = data === undefined ? '' : JSON.stringify(data);
    const { maxMessages } = this.#ctx.retentionFor(channel);
    const pub = this.#fanout === 'pubsub' ? this.#k('fanout') : '';
    const header = pub ? JSON.stringify([channel, event, time]) : '';
    for (let attempt = 0; ; attempt++) {
      const epoch = this.epoch;
      try {
        const r = await this.#eval(
          SCRIPTS.appendOnce,
          [
            this.#k('seq'),
            this.#k('epoch'),
            this.#k(`s:${channel}`),
            this.#k(`c:${channel}`),
            this.#k('log'),
            this.#k('channels'),
            this.#k('active'),
            this.#k(`active:${channelHead(channel)}`),
            this.#k('active-last'),
            this.#k('active-from'),
            this.#k(`i:${channel}`),
            this.#k(`iz:${channel}`),
          ],
          [
            epoch,
            channel,
            event,
            json,
            time,
            Math.max(0, maxMessages),
            this.#logMax,
            pub,
            header,
            k.key,
            k.fingerprint,
            Date.now(),
            k.windowMs,
            k.maxKeys,
          ],
        );
        if (Array.isArray(r)) {
          return { seq: Number(r[0]), duplicate: true, mismatch: String(r[1]) !== k.fingerprint };
        }
        const seq = Number(r);
        if (this.epoch === epoch && seq > this.#known) this.#known = seq;
        return { seq, duplicate: false, mismatch: false };
      } catch (err) {
        if (attempt === 0 && isEpochError(err)) {
          await this.#checkEpoch();
          continue;
        }
        throw unavailable(err);
      }
    }
  }

  async read(
    channels: readonly string[],
    after: number,
    limit: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<ReadResult> {
    const cmd = this.#redis();
    // The caller's cursor belongs to the epoch current now: an answer from any other epoch is refused.
    const epoch = this.epoch;
    let replies: unknown[];
    try {
      replies = await this.#multiWithScript(cmd, (m) => {
        m.get(this.#k('epoch')).get(this.#k('seq'));
        for (const channel of channels) {
          m.hmget(this.#k(`c:${channel}`), 'last', 'floor', 'reason');
          this.#page(m, channel, `(${after}-0`, limit, maxBytes, 0);
        }
        return m;
      });
    } catch (err) {
      throw unavailable(err);
    }
    const head = Number(replies[1] ?? 0);
    if (replies[0] !== epoch || this.epoch !== epoch) await this.#epochMoved();
    const gaps: ChannelGap[] = [];
    const messages: StoredMessage[] = [];
    let complete = Number.POSITIVE_INFINITY;
    channels.forEach((channel, i) => {
      const [last, floor, reason] = replies[2 + 2 * i] as (string | null)[];
      if (last == null) return;
      if (after < Number(floor ?? 0)) gaps.push({ channel, reason: (reason ?? 'trimmed') as GapReason });
      complete = Math.min(complete, this.#takePage(replies[3 + 2 * i], channel, limit, maxBytes, messages));
    });
    const page = mergePage(messages, channels.length <= 1, limit, maxBytes, complete);
    return { messages: page.messages, gaps, more: page.more, head };
  }

  /** Presence shared by every hub on this Redis (redis-presence.ts). */
  presenceBackend(options: { ttlMs: number; maxMembers: number }): PresenceBackend {
    return new RedisPresence(
      {
        eval: (s, keys, args) => this.#eval(s, keys, args),
        key: (name) => this.#k(name),
        pub: this.#fanout === 'pubsub' ? this.#k('fanout') : '',
        logMax: this.#logMax,
        script,
      },
      options,
    );
  }

  /**
   * Reads the sorted sets of channels by newest seq (kept by the append script) from the newest
   * down to `after`, in pages, filtering by the patterns: each pattern's head's `active:HEAD`, or
   * `active` when a pattern has no head, or when the head sets may lack channels active since
   * `after`: a cursor from before `active-from`, or an append since `active-last` (a hub of a
   * version that does not index heads). At most ACTIVE_SCAN_BUDGET entries are looked at (more:
   * overflow), so a resume costs Redis a bounded amount.
   */
  async activeChannels(patterns: readonly string[], after: number, max: number): Promise<ActiveChannels> {
    const cmd = this.#redis();
    const plan = planActive(patterns);
    const found = new ActiveCollector(max);
    try {
      if (plan.heads !== undefined) {
        // The index's bounds, the head seq and the heads' first pages from one instant: the pages
        // hold every channel active since `after` when the bounds say so, and no score above the
        // head seq (`+inf` is that seq here).
        const heads = [...plan.heads];
        const replies = await this.#multi(cmd, (m) => {
          m.mget(this.#k('active-from'), this.#k('active-last'), this.#k('seq'));
          for (const [head] of heads)
            m.zrevrangebyscore(
              this.#k(`active:${head}`),
              '+inf',
              `(${after}`,
              'WITHSCORES',
              'LIMIT',
              0,
              ACTIVE_PAGE,
            );
          return m;
        });
        const [from, last, seq] = replies[0] as (string | null)[];
        if (from != null && after >= Number(from) - 1 && last === seq) {
          for (let i = 0; i < heads.length; i++) {
            const [head, matchers] = heads[i]!;
            const first = { seq: Number(seq ?? 0), page: replies[1 + i] as string[] };
            await this.#scanActive(cmd, `active:${head}`, after, found, matchers, first);
          }
          return found.result();
        }
      }
      await this.#scanActive(cmd, 'active', after, found, plan.matchers, undefined);
    } catch (err) {
      throw unavailable(err);
    }
    return found.result();
  }

  /**
   * One scan of a sorted set of channels by newest seq (`name`): every channel in it with a score
   * above `after`, unless the collector stops it. `first`: the head seq and the first page, read
   * together already (otherwise read here in one MULTI).
   *
   * The scan goes down from the head seq S in pages of ACTIVE_PAGE, each below the last score read
   * (not by offset, which channels moving up would shift). A channel published between two pages
   * moves above S, out of the pages still to come: without more it would be missed, and a resume
   * would skip its messages since `after` with no gap. So, once down at `after`, the scan reads
   * every channel scored above S, going *up* in pages from S: a channel published meanwhile moves
   * further up, ahead of those pages again, so none is missed however busy the set; one read twice
   * counts once (ActiveCollector). Every entry read is in the budget: a set published faster than
   * it is read runs out of it and answers overflow. A scan whose first page was its last reads
   * nothing more: that page is the set at S.
   */
  async #scanActive(
    cmd: Redis,
    name: string,
    after: number,
    found: ActiveCollector,
    matchers: ((channel: string) => boolean)[],
    first: { seq: number; page: string[] } | undefined,
  ): Promise<void> {
    found.scan(matchers);
    const key = this.#k(name);
    let start = first;
    if (start === undefined) {
      const [seq, page] = await this.#multi(cmd, (m) =>
        m
          .get(this.#k('seq'))
          .zrevrangebyscore(key, '+inf', `(${after}`, 'WITHSCORES', 'LIMIT', 0, ACTIVE_PAGE),
      );
      start = { seq: Number(seq ?? 0), page: page as string[] };
    }
    /** Offers a page's entries; false when the scan is over (enough matches, or the budget). */
    const take = (page: string[]): boolean => {
      for (let i = 0; i < page.length; i += 2) {
        if (found.budget === 0) {
          found.cut();
          return false;
        }
        if (!found.offer(page[i]!, Number(page[i + 1]))) return false;
      }
      return true;
    };
    let size = ACTIVE_PAGE;
    let page = start.page;
    // Down from S to `after`.
    for (;;) {
      if (!take(page)) return;
      // All in the first page, read at S: no channel can have moved past the scan.
      if (page.length < 2 * size && page === start.page) return;
      if (page.length < 2 * size) break;
      // One entry past the budget at most: enough to tell whether any are left.
      size = Math.min(ACTIVE_PAGE, found.budget + 1);
      page = await cmd.zrevrangebyscore(
        key,
        `(${page[page.length - 1]}`,
        `(${after}`,
        'WITHSCORES',
        'LIMIT',
        0,
        size,
      );
    }
    // Up from S: the channels published since the scan began.
    let low = Math.max(start.seq, after);
    for (;;) {
      size = Math.min(ACTIVE_PAGE, found.budget + 1);
      page = await cmd.zrangebyscore(key, `(${low}`, '+inf', 'WITHSCORES', 'LIMIT', 0, size);
      if (!take(page)) return;
      if (page.length < 2 * size) return;
      low = Number(page[page.length - 1]);
    }
  }

  async last(
    channels: readonly string[],
    n: number,
    limit = Number.MAX_SAFE_INTEGER,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<LastResult> {
    const cmd = this.#redis();
    // The caller's cursor belongs to the epoch current now: an answer from any other epoch is refused.
    const epoch = this.epoch;
    let replies: unknown[];
    try {
      replies = await this.#multiWithScript(cmd, (m) => {
        m.get(this.#k('epoch')).get(this.#k('seq'));
        if (n > 0) for (const channel of channels) this.#page(m, channel, '-', limit, maxBytes, n);
        return m;
      });
    } catch (err) {
      throw unavailable(err);
    }
    if (replies[0] !== epoch || this.epoch !== epoch) await this.#epochMoved();
    const messages: StoredMessage[] = [];
    let complete = Number.POSITIVE_INFINITY;
    if (n > 0)
      channels.forEach((channel, i) => {
        complete = Math.min(complete, this.#takePage(replies[2 + i], channel, limit, maxBytes, messages));
      });
    const page = mergePage(messages, channels.length <= 1, limit, maxBytes, complete);
    return { messages: page.messages, more: page.more, head: Number(replies[1] ?? 0) };
  }

  async info(channel: string): Promise<ChannelInfo> {
    try {
      const [last, stored] = await this.#multi(this.#redis(), (m) =>
        m.hget(this.#k(`c:${channel}`), 'last').xlen(this.#k(`s:${channel}`)),
      );
      return { lastSeq: Number(last ?? 0), stored: Number(stored ?? 0) };
    } catch (err) {
      throw unavailable(err);
    }
  }

  async drop(channel: string): Promise<void> {
    const pub = this.#fanout === 'pubsub' ? this.#k('fanout') : '';
    const time = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#eval(
          SCRIPTS.drop,
          [
            this.#k(`s:${channel}`),
            this.#k(`c:${channel}`),
            this.#k('log'),
            this.#k('seq'),
            this.#k('epoch'),
          ],
          [this.epoch, channel, time, this.#logMax, pub, pub ? JSON.stringify([channel, time]) : ''],
        );
        return;
      } catch (err) {
        if (attempt === 0 && isEpochError(err)) {
          await this.#checkEpoch();
          continue;
        }
        throw unavailable(err);
      }
    }
  }

  /**
   * Age retention. Every hub calls this once a second, but one hub at a time does the work: it
   * holds a 3 s lease (`sweeper` key) that it renews on each call, and another hub takes over when
   * the holder is gone. Each call scans at most ~2000 channels, going on from where the last call
   * stopped, so a very large channel set costs Redis a bounded amount per second.
   */
  async sweep(now: number): Promise<void> {
    const cmd = this.#redis();
    try {
      // A cheap periodic check that Redis still has our epoch (it may have restarted in between).
      await this.#checkEpoch();
      if (!(await this.#eval(SCRIPTS.lease, [this.#k('sweeper')], [this.#id, 3000]))) return;
      let budget = 2000;
      do {
        const [next, names] = await cmd.sscan(this.#k('channels'), this.#sweepCursor, 'COUNT', 200);
        this.#sweepCursor = next;
        budget -= names.length;
        const keys: string[] = [];
        const cutoffs: number[] = [];
        for (const channel of names) {
          const cutoff = now - this.#ctx.retentionFor(channel).maxAgeMs;
          if (!Number.isFinite(cutoff)) continue;
          keys.push(this.#k(`s:${channel}`), this.#k(`c:${channel}`));
          cutoffs.push(cutoff);
        }
        if (cutoffs.length > 0) await this.#eval(SCRIPTS.sweep, keys, cutoffs);
      } while (this.#sweepCursor !== '0' && budget > 0);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#reader?.disconnect();
    this.#cmd?.disconnect();
    await this.#loop?.catch(() => {});
  }

  // ---- fan-out ----

  /** fanout=stream: one blocking XREAD at a time on the global log, from the last id seen. */
  async #readLoop(reader: Redis): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      if (reader.status !== 'ready') {
        this.#setUp('reader', false);
        await waitReady(reader, () => this.#closed);
        if (!isReady(reader)) await sleep(100);
        continue;
      }
      const gen = this.#gen;
      const known = this.#known;
      const from = formatId(this.#lastId);
      let res: [Error | null, unknown][] | null;
      try {
        // GET epoch/seq on the same connection, in the same write as XREAD: the entries and the
        // epoch they are checked against come from the same Redis life.
        res = await reader
          .pipeline()
          .get(this.#k('epoch'))
          .get(this.#k('seq'))
          .xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', this.#k('log'), from)
          .exec();
        const err = res?.find(([e]) => e)?.[0];
        if (!res || err) throw err ?? new Error('pipeline aborted');
      } catch {
        if (this.#closed) return;
        this.#setUp('reader', false);
        failures++;
        await sleep(Math.min(50 * failures, 500));
        continue;
      }
      failures = 0;
      if (gen !== this.#gen) continue;
      const epoch = res[0]![1] as string | null;
      const seq = Number(res[1]![1] ?? 0);
      if (epoch !== this.epoch || seq < known) {
        await this.#checkEpoch(seq < known && epoch === this.epoch).catch(() => sleep(100));
        continue;
      }
      this.#setUp('reader', true);
      const streams = res[2]![1] as [string, Entry[]][] | null;
      const entries = streams?.[0]?.[1] ?? [];
      try {
        await this.#deliver(entries, gen);
      } catch {
        // Filling a range the log lost needs the command connection; retry from where we are.
        failures++;
        await sleep(Math.min(50 * failures, 500));
      }
    }
  }

  /** fanout=pubsub: a push is delivered directly when it is the next one, else we catch up. */
  #onPush(payload: string): void {
    if (this.#catchUp.running) {
      this.#catchUp.again = true;
      return;
    }
    const space = payload.indexOf(' ');
    const nl = payload.indexOf('\n', space);
    const id = parseId(payload.slice(0, space));
    const header = JSON.parse(payload.slice(space + 1, nl)) as unknown[];
    const body = payload.slice(nl + 1);
    if (compareId(id, this.#lastId) <= 0) return;
    const isMessage = id[1] === 0;
    const next = isMessage ? id[0] === this.#lastId[0] + 1 : id[0] === this.#lastId[0];
    if (!next) {
      this.#scheduleCatchUp();
      return;
    }
    this.#lastId = id;
    if (isMessage) {
      const [channel, event, time] = header as [string, string, number];
      if (id[0] > this.#known) this.#known = id[0];
      this.#emit({
        type: 'message',
        message:
          body === ''
            ? { seq: id[0], channel, event, data: undefined, time }
            : { seq: id[0], channel, event, data: JSON.parse(body), time, json: body },
      });
    } else if (header.length === 3) {
      const [channel, time, event] = header as [string, number, 'join' | 'leave'];
      this.#emit({ type: 'presence', channel, event, member: JSON.parse(body) as PresenceMember, time });
    } else {
      const [channel, time] = header as [string, number];
      this.#emit({ type: 'deleted', channel, time });
    }
  }

  #scheduleCatchUp(): void {
    if (this.#closed || this.#fanout !== 'pubsub') return;
    if (this.#catchUp.running) {
      this.#catchUp.again = true;
      return;
    }
    this.#catchUp.running = true;
    void this.#runCatchUp()
      .catch(() => {})
      .finally(() => {
        this.#catchUp.running = false;
        if (this.#catchUp.again) {
          this.#catchUp.again = false;
          this.#scheduleCatchUp();
        }
      });
  }

  /** Reads the global log from the last id seen until it is exhausted (fanout=pubsub). */
  async #runCatchUp(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      const cmd = this.#cmd!;
      if (cmd.status !== 'ready') {
        await waitReady(cmd, () => this.#closed);
        if (!isReady(cmd)) await sleep(100);
        continue;
      }
      const gen = this.#gen;
      const known = this.#known;
      let res: unknown[];
      try {
        res = await this.#multi(cmd, (m) =>
          m
            .get(this.#k('epoch'))
            .get(this.#k('seq'))
            .xrange(this.#k('log'), `(${formatId(this.#lastId)}`, '+', 'COUNT', 1000),
        );
      } catch {
        failures++;
        await sleep(Math.min(50 * failures, 500));
        continue;
      }
      if (gen !== this.#gen) continue;
      const epoch = res[0] as string | null;
      const seq = Number(res[1] ?? 0);
      if (epoch !== this.epoch || seq < known) {
        await this.#checkEpoch(seq < known && epoch === this.epoch).catch(() => sleep(100));
        continue;
      }
      const entries = res[2] as Entry[];
      try {
        await this.#deliver(entries, gen);
      } catch {
        failures++;
        await sleep(Math.min(50 * failures, 500));
        continue;
      }
      if (entries.length < 1000) {
        this.#catchUp.again = false;
        return;
      }
    }
  }

  /** Hands log entries after #lastId to the listener, filling from channel streams if the log was trimmed. */
  async #deliver(entries: Entry[], gen: number): Promise<void> {
    for (const [rawId, fields] of entries) {
      if (gen !== this.#gen) return;
      const id = parseId(rawId);
      if (compareId(id, this.#lastId) <= 0) continue;
      if (id[1] === 0 && id[0] > this.#lastId[0] + 1) {
        // The log no longer reaches back to us (we were away for more than logMax messages):
        // recover the missing range from the channel streams, which keep what retention keeps.
        await this.#fillFromChannels(this.#lastId[0], id[0], gen);
        if (gen !== this.#gen) return;
      }
      this.#lastId = id;
      const f = fieldMap(fields);
      if (id[1] === 0) {
        if (id[0] > this.#known) this.#known = id[0];
        this.#emit({ type: 'message', message: fromFields(id[0], f.c ?? '', f) });
      } else if (f.p !== undefined) {
        this.#emit({
          type: 'presence',
          channel: f.p,
          event: f.v === 'join' ? 'join' : 'leave',
          member: JSON.parse(f.d ?? '{}') as PresenceMember,
          time: Number(f.t ?? 0),
        });
      } else {
        this.#emit({ type: 'deleted', channel: f.x ?? '', time: Number(f.t ?? 0) });
      }
    }
  }

  /** Delivers the messages with after < seq < before still held in channel streams, in order. */
  async #fillFromChannels(after: number, before: number, gen: number): Promise<void> {
    const cmd = this.#redis();
    const found: StoredMessage[] = [];
    let cursor = '0';
    do {
      const [next, names] = await cmd.sscan(this.#k('channels'), cursor, 'COUNT', 200);
      cursor = next;
      const pipe = cmd.pipeline();
      for (const channel of names) pipe.xrange(this.#k(`s:${channel}`), `(${after}-0`, `(${before}-0`);
      const res = (await pipe.exec()) ?? [];
      names.forEach((channel, i) => {
        const [err, entries] = res[i] ?? [new Error('missing reply'), null];
        if (err) throw err;
        for (const entry of entries as Entry[]) found.push(toMessage(channel, entry));
      });
    } while (cursor !== '0');
    found.sort(bySeq);
    for (const message of found) {
      if (gen !== this.#gen) return;
      this.#lastId = [message.seq, 0];
      this.#emit({ type: 'message', message });
    }
    this.#lastId = [before - 1, Number.MAX_SAFE_INTEGER];
  }

  // ---- epoch and status ----

  /**
   * A read found Redis under another epoch than ours (it restarted empty, or another hub rotated).
   * Its result must not be combined with a cursor or id of our epoch, so the read fails (503,
   * the client retries) once the new epoch is adopted and announced; the retry then sees the
   * cursor's epoch differ and gets a gap.
   */
  async #epochMoved(): Promise<never> {
    await this.#checkEpoch().catch(() => {});
    throw new StoreUnavailableError('redis store: the history was reset (new epoch); retry');
  }

  /**
   * Compares Redis's epoch with ours; adopts (or starts) a new one when history was lost. `regressed`
   * says the caller saw the seq go backwards under our epoch (Redis restored an older snapshot).
   * Serialized: concurrent callers share one check.
   */
  #checkEpoch(regressed = false): Promise<void> {
    if (this.#epochTask) return this.#epochTask;
    const task = (async () => {
      const cmd = this.#redis();
      const known = this.#known;
      const [epoch, seq] = await this.#multi(cmd, (m) => m.get(this.#k('epoch')).get(this.#k('seq')));
      const back = regressed || (epoch === this.epoch && Number(seq ?? 0) < known);
      if (epoch === this.epoch && !back) return;
      const [adopted, base] = (await this.#eval(
        SCRIPTS.rotate,
        [this.#k('epoch'), this.#k('seq'), this.#k('log'), this.#k('base')],
        [this.epoch, newEpoch(), back ? '1' : '0'],
      )) as [string, string];
      if (adopted === this.epoch) return;
      this.epoch = adopted;
      this.#gen++;
      this.#lastId = parseId(base);
      this.#known = this.#lastId[0];
      this.#emit({ type: 'epoch', epoch: adopted });
      this.#scheduleCatchUp();
    })();
    this.#epochTask = task;
    return task.finally(() => {
      this.#epochTask = undefined;
    });
  }

  #setUp(role: 'cmd' | 'reader', up: boolean): void {
    if (role === 'cmd') this.#cmdUp = up;
    else this.#readerUp = up;
    const all = this.#cmdUp && this.#readerUp;
    if (all === this.#up || this.#closed || !this.#opened) return;
    this.#up = all;
    this.#emit({ type: 'status', up: all });
  }

  #emit(event: StoreEvent): void {
    if (this.#closed) return;
    this.#listener(event);
  }

  // ---- plumbing ----

  #redis(): Redis {
    if (!this.#cmd || this.#closed) throw new StoreUnavailableError('redis store is not open');
    return this.#cmd;
  }

  async #eval(s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    const cmd = this.#redis();
    try {
      return await cmd.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return await cmd.eval(s.lua, keys.length, ...keys, ...args);
    }
  }

  /** Queues one channel's page (the PAGE script) on a MULTI; `n` > 0: from the n-th newest. */
  #page(
    m: ReturnType<Redis['multi']>,
    channel: string,
    start: string,
    limit: number,
    maxBytes: number,
    n: number,
  ): void {
    const bytes = maxBytes === Number.POSITIVE_INFINITY ? -1 : maxBytes;
    m.evalsha(SCRIPTS.page.sha, 1, this.#k(`s:${channel}`), start, Math.min(limit, 1e9) + 1, bytes, n);
  }

  /**
   * Adds a channel's share of a page (a PAGE reply) to `into`, parsed only as far as the page goes;
   * returns the seq up to which the channel is known (Infinity when Redis sent all there was).
   */
  #takePage(reply: unknown, channel: string, limit: number, maxBytes: number, into: StoredMessage[]): number {
    const [stopped, entries] = reply as [number, Entry[]];
    for (const m of channelPage(entryMessages(channel, entries), limit, maxBytes)) into.push(m);
    // Redis stopped (by count, or by its own count of bytes, which is not ours): what follows its
    // last entry is not known here. When our page ends earlier, cutting there changes nothing.
    const last = entries[entries.length - 1];
    return stopped === 1 && last !== undefined ? parseId(last[0])[0] : Number.POSITIVE_INFINITY;
  }

  /** {@link #multi} for a transaction that runs the PAGE script: loads it once if Redis lost it. */
  async #multiWithScript(
    cmd: Redis,
    build: (m: ReturnType<Redis['multi']>) => ReturnType<Redis['multi']>,
  ): Promise<unknown[]> {
    try {
      return await this.#multi(cmd, build);
    } catch (err) {
      if (!(err instanceof Error) || !/NOSCRIPT/.test(err.message)) throw err;
      await cmd.script('LOAD', SCRIPTS.page.lua);
      return await this.#multi(cmd, build);
    }
  }

  /** MULTI/EXEC: one consistent snapshot; rejects with the first error. */
  async #multi(
    cmd: Redis,
    build: (m: ReturnType<Redis['multi']>) => ReturnType<Redis['multi']>,
  ): Promise<unknown[]> {
    const res = await build(cmd.multi()).exec();
    if (!res) throw new Error('transaction aborted');
    return res.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }
}

function parseId(raw: string): Id {
  const dash = raw.indexOf('-');
  return [Number(raw.slice(0, dash)), Number(raw.slice(dash + 1))];
}

function formatId(id: Id): string {
  return `${id[0]}-${id[1]}`;
}

function compareId(a: Id, b: Id): number {
  return a[0] - b[0] || a[1] - b[1];
}

function maxId(a: Id, b: Id): Id {
  return compareId(a, b) >= 0 ? a : b;
}

function fieldMap(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

function fromFields(seq: number, channel: string, f: Record<string, string>): StoredMessage {
  const d = f.d ?? '';
  const event = f.e ?? '';
  const time = Number(f.t ?? 0);
  return d === ''
    ? { seq, channel, event, data: undefined, time }
    : { seq, channel, event, data: JSON.parse(d), time, json: d };
}

function toMessage(channel: string, [id, fields]: Entry): StoredMessage {
  return fromFields(parseId(id)[0], channel, fieldMap(fields));
}

/** Stream entries as messages, parsed one at a time as they are taken. */
function* entryMessages(channel: string, entries: readonly Entry[]): Generator<StoredMessage> {
  for (const entry of entries) yield toMessage(channel, entry);
}

function bySeq(a: StoredMessage, b: StoredMessage): number {
  return a.seq - b.seq;
}

function isEpochError(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('COMETAEPOCH');
}

/** `host:port` of a redis:// URL, without credentials, for messages. */
export function redisAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || '127.0.0.1'}:${u.port || '6379'}`;
  } catch {
    return 'the configured Redis';
  }
}

function unavailable(err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  if (err instanceof TypeError || err instanceof SyntaxError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`redis store: ${message}`, { cause: err });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

/** Resolves when `redis` is ready again (it reconnects by itself) or `stop()` says to give up. */
function waitReady(redis: Redis, stop: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (redis.status === 'ready' || redis.status === 'end' || stop()) {
        clearInterval(timer);
        redis.off('ready', check);
        resolve();
      }
    };
    const timer = setInterval(check, 100);
    redis.on('ready', check);
  });
}

function isReady(redis: Redis): boolean {
  return redis.status === 'ready';
}
