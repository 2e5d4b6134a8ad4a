import { randomUUID } from 'node:crypto';
import type { PresenceBackend, PresenceMember } from '../presence.js';

/**
 * Presence shared by every hub on one Redis (RedisStore.presenceBackend). Keys (prefix `cometa:`):
 *
 * - `cometa:pm:CHANNEL`: hash `HUB MEMBER` -> the member (JSON): who is on the channel through which hub
 * - `cometa:pc:CHANNEL`: hash `MEMBER` -> how many hubs hold it (a member joins when it goes 0 -> 1
 *   and leaves when it goes back to 0, so a member moving between hubs neither leaves nor joins)
 * - `cometa:phubs`: sorted set of hub ids by when their entries expire; each hub renews its own
 *   from its sweep (every ttl/3), and any hub's sweep reaps the hubs past it (kill -9, a lost host)
 * - `cometa:phc:HUB`: hash `CHANNEL` -> how many members the hub has there (what a reap visits); a
 *   channel is removed with the hub's last member on it, so the index never outgrows the members
 *
 * Joins and leaves go to the global log as `SEQ-N` entries (fields p, v, d, t) and to the pub/sub
 * channel, like drops: every hub announces them, in order with the messages.
 */

export interface RedisPresenceHost {
  /** Runs a script (EVALSHA, EVAL on NOSCRIPT). */
  eval(s: { lua: string; sha: string }, keys: string[], args: (string | number)[]): Promise<unknown>;
  /** A key with the store's prefix. */
  key(name: string): string;
  /** The pub/sub channel of the fan-out ('' for fanout=stream). */
  readonly pub: string;
  readonly logMax: number;
  script(lua: string): { lua: string; sha: string };
}

/** Appends a presence event to the log (and pub/sub); `ch`, `ev`, `m` are Lua variables. */
const ANNOUNCE = `
local seq = tonumber(redis.call('GET', KEYS[5]) or '0')
local id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', LOGMAX, seq .. '-*', 'p', ch, 'v', ev, 'd', m, 't', NOW)
if PUB ~= '' then redis.call('PUBLISH', PUB, id .. ' ' .. cjson.encode({ch, tonumber(NOW), ev}) .. '\\n' .. m) end
`;

/** KEYS: pm, pc, phc, log, seq, phubs. ARGV: hub, member, member JSON, channel, max, now, logMax, pub, expiry. */
const JOIN = `
local LOGMAX, PUB, NOW = ARGV[7], ARGV[8], ARGV[6]
redis.call('ZADD', KEYS[6], ARGV[9], ARGV[1])
local field = ARGV[1] .. ' ' .. ARGV[2]
if redis.call('HEXISTS', KEYS[1], field) == 1 then return 1 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], field, ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then
  local ch, ev, m = ARGV[4], 'join', ARGV[3]
  ${ANNOUNCE}
end
return 1
`;

/** KEYS: pm, pc, phc, log, seq. ARGV: hub, member, channel, now, logMax, pub. */
const LEAVE = `
local LOGMAX, PUB, NOW = ARGV[5], ARGV[6], ARGV[4]
local field = ARGV[1] .. ' ' .. ARGV[2]
local m = redis.call('HGET', KEYS[1], field)
if not m then return 0 end
redis.call('HDEL', KEYS[1], field)
if redis.call('HINCRBY', KEYS[3], ARGV[3], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[3]) end
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  local ch, ev = ARGV[3], 'leave'
  ${ANNOUNCE}
end
return 1
`;

/**
 * Removes every entry of a hub whose expiry passed (or this hub, closing): its members leave where
 * no other hub holds them. KEYS: phubs, (unused), (unused), log, seq. ARGV: hub, now, prefix, logMax, pub.
 */
const REAP = `
local LOGMAX, PUB, NOW = ARGV[4], ARGV[5], ARGV[2]
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) > tonumber(NOW) then return 0 end
local hc = ARGV[3] .. 'phc:' .. ARGV[1]
local pre = ARGV[1] .. ' '
for _, ch in ipairs(redis.call('HKEYS', hc)) do
  local pm = ARGV[3] .. 'pm:' .. ch
  local pc = ARGV[3] .. 'pc:' .. ch
  for _, f in ipairs(redis.call('HKEYS', pm)) do
    if string.sub(f, 1, #pre) == pre then
      local member = string.sub(f, #pre + 1)
      local m = redis.call('HGET', pm, f)
      redis.call('HDEL', pm, f)
      if redis.call('HINCRBY', pc, member, -1) <= 0 then
        redis.call('HDEL', pc, member)
        local ev = 'leave'
        ${ANNOUNCE}
      end
    end
  end
end
redis.call('DEL', hc)
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`;

export class RedisPresence implements PresenceBackend {
  readonly #host: RedisPresenceHost;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #id = randomUUID();
  readonly #scripts: Record<
    'join' | 'leave' | 'reap' | 'members' | 'renew' | 'dead',
    { lua: string; sha: string }
  >;
  #renewedAt = 0;
  #reapedAt = 0;
  #busy = false;

  constructor(host: RedisPresenceHost, options: { ttlMs: number; maxMembers: number }) {
    this.#host = host;
    this.#ttlMs = options.ttlMs;
    this.#max = options.maxMembers;
    this.#scripts = {
      join: host.script(JOIN),
      leave: host.script(LEAVE),
      reap: host.script(REAP),
      members: host.script(MEMBERS),
      renew: host.script(RENEW),
      dead: host.script(DEAD),
    };
  }

  #keys(channel: string): string[] {
    const k = (n: string) => this.#host.key(n);
    return [k(`pm:${channel}`), k(`pc:${channel}`), k(`phc:${this.#id}`), k('log'), k('seq'), k('phubs')];
  }

  async join(channel: string, m: PresenceMember): Promise<boolean> {
    const now = Date.now();
    const r = await this.#host.eval(this.#scripts.join, this.#keys(channel), [
      this.#id,
      m.member,
      JSON.stringify(m),
      channel,
      this.#max,
      now,
      this.#host.logMax,
      this.#host.pub,
      now + this.#ttlMs,
    ]);
    return Number(r) === 1;
  }

  async leave(channel: string, member: string): Promise<void> {
    await this.#host.eval(this.#scripts.leave, this.#keys(channel).slice(0, 5), [
      this.#id,
      member,
      channel,
      Date.now(),
      this.#host.logMax,
      this.#host.pub,
    ]);
  }

  async members(channel: string, max: number): Promise<PresenceMember[]> {
    // Entries of hubs that died but are not reaped yet are answered too, for at most ttlMs.
    const fields = (await this.#host.eval(
      this.#scripts.members,
      [this.#host.key(`pm:${channel}`)],
      [max],
    )) as string[];
    const seen = new Map<string, PresenceMember>();
    for (const json of fields) {
      const m = JSON.parse(json) as PresenceMember;
      if (!seen.has(m.member)) seen.set(m.member, m);
      if (seen.size >= max) break;
    }
    return [...seen.values()];
  }

  /**
   * From the hub's sweep: renews this hub's expiry every ttl/3, and once a second reaps up to 10
   * hubs whose expiry passed. One call at a time; failures wait for the next sweep.
   */
  sweep(now: number): void {
    if (this.#busy) return;
    const renew = now - this.#renewedAt >= this.#ttlMs / 3;
    const reap = now - this.#reapedAt >= 1000;
    if (!renew && !reap) return;
    this.#busy = true;
    void (async () => {
      try {
        if (renew) {
          await this.#host.eval(
            this.#scripts.renew,
            [this.#host.key('phubs')],
            [now + this.#ttlMs, this.#id],
          );
          this.#renewedAt = now;
        }
        if (reap) {
          this.#reapedAt = now;
          const dead = (await this.#host.eval(
            this.#scripts.dead,
            [this.#host.key('phubs')],
            [now],
          )) as string[];
          for (const hub of dead) await this.#reap(hub, now);
        }
      } catch {
        // Redis unreachable: the store reports it; the next sweep retries.
      } finally {
        this.#busy = false;
      }
    })();
  }

  async #reap(hub: string, now: number): Promise<void> {
    const k = (n: string) => this.#host.key(n);
    await this.#host.eval(
      this.#scripts.reap,
      [k('phubs'), k('phubs'), k('phubs'), k('log'), k('seq')],
      [hub, now, k(''), this.#host.logMax, this.#host.pub],
    );
  }

  /** This hub's members leave now (hub.close()). */
  async close(): Promise<void> {
    await this.#reap(this.#id, Number.MAX_SAFE_INTEGER).catch(() => {});
  }
}

/** The members of a channel: at most ARGV[1] * 4 entries (a member may be on several hubs). */
const MEMBERS = `
local out = {}
local vals = redis.call('HVALS', KEYS[1])
local max = tonumber(ARGV[1]) * 4
for i = 1, math.min(#vals, max) do out[i] = vals[i] end
return out
`;
const RENEW = "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) return 1";
const DEAD = "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 10)";
