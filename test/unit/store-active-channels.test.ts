/**
 * Store.activeChannels, the candidates of a wildcard resume, on every store (memory, SQLite, Redis):
 * only the channels matching the patterns and active since the cursor, newest first, `max` and
 * `overflow`, patterns with and without a literal first segment (head), channels dropped or emptied
 * by age retention (still listed: their reads answer the gap). A resume of `scores.*` reads only
 * the channels under `scores`: with 100,000 busy channels under another head it still answers,
 * where a scan of every active channel runs out of its budget. Then what is store-specific:
 * SQLite's index on (head, last_seq) and the upgrade of a file made without it, Redis's per-head
 * sets beside hubs of a version that does not keep them and after Redis lost its data, and channels
 * published between the pages of a Redis scan (landed there through a TCP proxy that holds the
 * scan's requests), the memory store forgetting channels under its byte bound.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { ACTIVE_SCAN_BUDGET, channelHead, patternHead } from '../../src/hub/stores/active-index.js';
import { MemoryStore } from '../../src/hub/stores/memory.js';
import { RedisStore } from '../../src/hub/stores/redis.js';
import { ACTIVE_SINCE, ACTIVE_UNDER, HEAD_SQL, SqliteStore } from '../../src/hub/stores/sqlite.js';
import type { Store, StoreContext } from '../../src/hub/stores/store.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type RedisGate, startRedisGate } from '../helpers/redis-gate.js';

const ctx: StoreContext = {
  retentionFor: (channel) => ({ maxMessages: 10, maxAgeMs: channel.startsWith('aged.') ? 1000 : 3_600_000 }),
};
const tmp = mkdtempSync(join(tmpdir(), 'cometa-active-'));
let files = 0;
const tmpFile = () => {
  const path = join(tmp, `db${++files}`, 'cometa.db');
  mkdirSync(dirname(path), { recursive: true });
  return path;
};

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

let prefixes = 0;
const kinds = {
  memory: () => new MemoryStore(ctx),
  sqlite: () => new SqliteStore(tmpFile(), ctx),
  redis: () => new RedisStore(redis.url, ctx, { prefix: `a${++prefixes}:` }),
} as const;

async function opened(kind: keyof typeof kinds): Promise<Store> {
  const store = kinds[kind]();
  await store.open();
  return store;
}

/** Appends one message to each channel, in order, `inFlight` at a time. */
async function publish(store: Store, channels: readonly string[], inFlight = 1): Promise<void> {
  for (let i = 0; i < channels.length; i += inFlight)
    await Promise.all(channels.slice(i, i + inFlight).map((c) => store.append(c, 'm', 1, Date.now())));
}

const active = (store: Store, patterns: string[], after: number, max = 100) =>
  store.activeChannels!(patterns, after, max);

describe('first literal segment', () => {
  it('is the head of a channel, and of a pattern unless it is a wildcard', () => {
    assert.equal(channelHead('scores.nba.east'), 'scores');
    assert.equal(channelHead('scores'), 'scores');
    assert.equal(patternHead('scores.*'), 'scores');
    assert.equal(patternHead('scores.**'), 'scores');
    assert.equal(patternHead('scores.nba'), 'scores');
    assert.equal(patternHead('*.nba'), undefined);
    assert.equal(patternHead('**'), undefined);
    assert.equal(patternHead('**.nba'), undefined);
  });
});

for (const kind of Object.keys(kinds) as (keyof typeof kinds)[]) {
  describe(`activeChannels: ${kind} store`, () => {
    it('answers only the matching channels active since the cursor, newest first', async () => {
      const store = await opened(kind);
      try {
        await publish(store, ['scores.quiet', 'quotes.a', 'other.x']);
        const cursor = await store.head();
        await publish(store, ['scores.nba', 'other.y', 'scores.nhl', 'scores', 'scores.nba.east']);
        await publish(store, ['quotes.a.b', 'scores.nba', 'scoresx.nba']);
        assert.deepEqual(await active(store, ['scores.*'], cursor), {
          channels: ['scores.nba', 'scores.nhl'],
          overflow: false,
        });
        assert.deepEqual(await active(store, ['scores.**'], cursor), {
          channels: ['scores.nba', 'scores.nba.east', 'scores', 'scores.nhl'],
          overflow: false,
        });
        // Nothing under a head no channel has, nothing after the head.
        assert.deepEqual(await active(store, ['none.*'], cursor), { channels: [], overflow: false });
        assert.deepEqual(await active(store, ['scores.*'], await store.head()), {
          channels: [],
          overflow: false,
        });
        // From the start (last-N): every matching channel ever published.
        assert.deepEqual(await active(store, ['scores.*'], 0), {
          channels: ['scores.nba', 'scores.nhl', 'scores.quiet'],
          overflow: false,
        });
      } finally {
        await store.close();
      }
    });

    it('answers at most max channels, the newest, and overflow when more match', async () => {
      const store = await opened(kind);
      try {
        const cursor = await store.head();
        await publish(store, ['s.a', 's.b', 'q.a', 's.c', 'q.b', 's.d', 's.e']);
        assert.deepEqual(await active(store, ['s.*'], cursor, 3), {
          channels: ['s.e', 's.d', 's.c'],
          overflow: true,
        });
        assert.deepEqual(await active(store, ['s.*'], cursor, 5), {
          channels: ['s.e', 's.d', 's.c', 's.b', 's.a'],
          overflow: false,
        });
        // Over two heads: the newest of both, cut to max.
        assert.deepEqual(await active(store, ['s.*', 'q.*'], cursor, 4), {
          channels: ['s.e', 's.d', 'q.b', 's.c'],
          overflow: true,
        });
        assert.deepEqual(await active(store, ['s.*', 'q.*'], cursor, 7), {
          channels: ['s.e', 's.d', 'q.b', 's.c', 'q.a', 's.b', 's.a'],
          overflow: false,
        });
      } finally {
        await store.close();
      }
    });

    it('reads every head for patterns starting with a wildcard, alone or mixed with others', async () => {
      const store = await opened(kind);
      try {
        await publish(store, ['scores.nba']);
        const cursor = await store.head();
        await publish(store, ['scores.nba', 'stats.nba', 'quotes.x', 'stats.nhl', 'a.b.nba']);
        assert.deepEqual(await active(store, ['*.nba'], cursor), {
          channels: ['stats.nba', 'scores.nba'],
          overflow: false,
        });
        assert.deepEqual(await active(store, ['**.nba'], cursor), {
          channels: ['a.b.nba', 'stats.nba', 'scores.nba'],
          overflow: false,
        });
        assert.deepEqual(await active(store, ['quotes.*', '*.nhl'], cursor), {
          channels: ['stats.nhl', 'quotes.x'],
          overflow: false,
        });
        assert.deepEqual(await active(store, ['**'], cursor, 3), {
          channels: ['a.b.nba', 'stats.nhl', 'quotes.x'],
          overflow: true,
        });
      } finally {
        await store.close();
      }
    });

    it('takes a plain channel name among the patterns as the one channel it names', async () => {
      const store = await opened(kind);
      try {
        const cursor = await store.head();
        await publish(store, ['scores.nba', 'scores.nhl', 'quotes.x', 'quotes.y.z']);
        assert.deepEqual(await active(store, ['scores.nba', 'quotes.*'], cursor), {
          channels: ['quotes.x', 'scores.nba'],
          overflow: false,
        });
        assert.deepEqual(await active(store, ['scores.nba', '*.nhl'], cursor), {
          channels: ['scores.nhl', 'scores.nba'],
          overflow: false,
        });
      } finally {
        await store.close();
      }
    });

    it('still lists a dropped channel, whose read answers the deleted gap', async () => {
      const store = await opened(kind);
      try {
        await publish(store, ['scores.nba', 'scores.nhl']);
        const cursor = (await store.head()) - 1;
        await store.drop('scores.nhl');
        assert.deepEqual(await active(store, ['scores.*'], cursor), {
          channels: ['scores.nhl'],
          overflow: false,
        });
        const r = await store.read(['scores.nhl'], cursor, 10);
        assert.deepEqual(r.gaps, [{ channel: 'scores.nhl', reason: 'deleted' }]);
        assert.deepEqual(r.messages, []);
        await publish(store, ['scores.nhl']);
        assert.deepEqual(await active(store, ['scores.*'], await store.head()), {
          channels: [],
          overflow: false,
        });
        assert.deepEqual(await active(store, ['scores.*'], cursor - 1), {
          channels: ['scores.nhl', 'scores.nba'],
          overflow: false,
        });
      } finally {
        await store.close();
      }
    });

    it('still lists a channel emptied by age retention, whose read answers the trimmed gap', async () => {
      const store = await opened(kind);
      try {
        const cursor = await store.head();
        await store.append('aged.x', 'm', 1, Date.now() - 5000);
        await publish(store, ['aged.y']);
        await store.sweep(Date.now());
        assert.deepEqual(await active(store, ['aged.*'], cursor), {
          channels: ['aged.y', 'aged.x'],
          overflow: false,
        });
        const r = await store.read(['aged.x', 'aged.y'], cursor, 10);
        assert.deepEqual(r.gaps, [{ channel: 'aged.x', reason: 'trimmed' }]);
        assert.deepEqual(
          r.messages.map((m) => m.channel),
          ['aged.y'],
        );
      } finally {
        await store.close();
      }
    });

    it(`answers under its head past ${ACTIVE_SCAN_BUDGET} channels active under another`, async () => {
      const store = await opened(kind);
      try {
        const cursor = await store.head();
        await publish(store, ['scores.nba']);
        const busy = Array.from({ length: ACTIVE_SCAN_BUDGET }, (_, i) => `busy.${i}`);
        await publish(store, busy, kind === 'memory' ? 1 : 2000);
        assert.deepEqual(await active(store, ['scores.*'], cursor, 1000), {
          channels: ['scores.nba'],
          overflow: false,
        });
        // A scan of every active channel looks at no more than the budget: a gap past it.
        const all = await active(store, ['**.nba'], cursor, 1000);
        assert.deepEqual(all, { channels: [], overflow: true });
        // Under the busy head itself: the newest, and overflow.
        const many = await active(store, ['busy.*'], cursor, 1000);
        assert.equal(many.channels.length, 1000);
        assert.equal(many.channels[0], `busy.${ACTIVE_SCAN_BUDGET - 1}`);
        assert.equal(many.overflow, true);
      } finally {
        await store.close();
      }
    });
  });
}

describe('activeChannels: sqlite store', () => {
  it('searches the (head, last_seq) index for a head, never the other heads', async () => {
    const path = tmpFile();
    const store = new SqliteStore(path, ctx);
    await store.open();
    await publish(store, ['scores.nba', 'scores', 'a.b.c']);
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${ACTIVE_UNDER}`).all('scores', 0) as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
      assert.match(
        plan,
        /USING (COVERING )?INDEX channels_head_last_seq \(<expr>=\? AND last_seq>\?\)/,
        plan,
      );
      assert.doesNotMatch(plan, /SCAN|TEMP B-TREE/, plan);
      // The SQL spelling of a head is channelHead's.
      const heads = db.prepare(`SELECT ${HEAD_SQL} AS head FROM channels ORDER BY channel`).pluck().all();
      assert.deepEqual(heads, ['a', 'scores', 'scores']);
      assert.deepEqual(heads, ['a.b.c', 'scores', 'scores.nba'].map(channelHead));
    } finally {
      db.close();
    }
  });

  it('upgrades a file made without the head index when it opens it', async () => {
    const path = tmpFile();
    const first = new SqliteStore(path, ctx);
    await first.open();
    await publish(first, ['busy.1', 'scores.nba']);
    const cursor = await first.head();
    await publish(first, ['scores.nhl', 'busy.2', 'scores.nba.east']);
    await first.close();
    // The file as a version without the head index left it: the same schema less that index.
    const old = new Database(path);
    old.exec('DROP INDEX channels_head_last_seq');
    old.close();
    const indexes = (p: string) => {
      const db = new Database(p, { readonly: true });
      try {
        return db
          .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'channels'`)
          .pluck()
          .all();
      } finally {
        db.close();
      }
    };
    assert.deepEqual(indexes(path), ['channels_last_seq']);

    const store = new SqliteStore(path, ctx);
    await store.open();
    try {
      assert.deepEqual(await store.activeChannels(['scores.**'], cursor, 10), {
        channels: ['scores.nba.east', 'scores.nhl'],
        overflow: false,
      });
      await publish(store, ['scores.nba']);
      assert.deepEqual(await store.activeChannels(['scores.*'], cursor, 10), {
        channels: ['scores.nba', 'scores.nhl'],
        overflow: false,
      });
    } finally {
      await store.close();
    }
    assert.deepEqual(indexes(path).sort(), ['channels_head_last_seq', 'channels_last_seq']);
    // Without a head the global index still answers.
    const db = new Database(path, { readonly: true });
    try {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${ACTIVE_SINCE}`).all(0) as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
      assert.match(plan, /INDEX channels_last_seq/, plan);
    } finally {
      db.close();
    }
  });
});

/**
 * The append script of cometa versions that keep only the global `active` set: how a hub of such a
 * version, still running during a rolling upgrade, appends (same keys and arguments, less the
 * per-head ones).
 */
const PREVIOUS_APPEND = `
local ep = redis.call('GET', KEYS[2])
if ep ~= ARGV[1] then return redis.error_reply('COMETAEPOCH ' .. (ep or '')) end
local seq = redis.call('INCR', KEYS[1])
local id = seq .. '-0'
redis.call('XADD', KEYS[3], id, 'e', ARGV[3], 'd', ARGV[4], 't', ARGV[5])
redis.call('HSET', KEYS[4], 'last', seq)
redis.call('SADD', KEYS[6], ARGV[2])
redis.call('ZADD', KEYS[7], seq, ARGV[2])
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

describe('activeChannels: redis store beside hubs that do not index heads', () => {
  it('reads the global set for cursors the per-head sets may not cover', async () => {
    const prefix = 'upgrade:';
    const store = new RedisStore(redis.url, ctx, { prefix });
    await store.open();
    const raw = new Redis(redis.url);
    const previous = async (channel: string): Promise<number> => {
      const k = (n: string) => prefix + n;
      const keys = [
        k('seq'),
        k('epoch'),
        k(`s:${channel}`),
        k(`c:${channel}`),
        k('log'),
        k('channels'),
        k('active'),
      ];
      const args = [store.epoch, channel, 'm', '1', String(Date.now()), '10', '1000', '', ''];
      return Number(await raw.eval(PREVIOUS_APPEND, keys.length, ...keys, ...args));
    };
    try {
      // Written before any hub indexed heads.
      assert.equal(await previous('scores.old'), 1);
      await publish(store, ['busy.1']); // 2: the per-head sets hold seqs from 2 on
      assert.deepEqual(await active(store, ['scores.*'], 0), { channels: ['scores.old'], overflow: false });
      assert.deepEqual(await active(store, ['scores.*'], 1), { channels: [], overflow: false });
      assert.deepEqual(await raw.zrange(`${prefix}active:busy`, '0', '-1'), ['busy.1']);
      assert.equal(await raw.exists(`${prefix}active:scores`), 0);

      // A hub of the previous version appends after this one: the next resume reads the global set.
      assert.equal(await previous('scores.mid'), 3);
      assert.deepEqual(await active(store, ['scores.*'], 2), { channels: ['scores.mid'], overflow: false });
      await publish(store, ['busy.2', 'scores.new']); // 4, 5: the per-head run starts again at 4
      assert.deepEqual(await active(store, ['scores.*'], 2), {
        channels: ['scores.new', 'scores.mid'],
        overflow: false,
      });
      assert.deepEqual(await active(store, ['scores.*'], 3), { channels: ['scores.new'], overflow: false });
      assert.deepEqual(await raw.mget(`${prefix}active-from`, `${prefix}active-last`), ['4', '5']);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
});

describe('activeChannels: redis store after Redis lost its data', () => {
  it('starts the per-head index again with the new epoch', async () => {
    const store = new RedisStore(redis.url, ctx, { prefix: 'lost:' });
    await store.open();
    const raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await publish(store, ['scores.a', 'scores.b']);
      const epoch = store.epoch;
      await redis.restart(); // empty: every key is gone
      // The store reconnects by itself and adopts a new epoch; appends fail until it has.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await store.append('scores.c', 'm', 1, Date.now());
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.notEqual(store.epoch, epoch);
      assert.deepEqual(await active(store, ['scores.*'], 0), { channels: ['scores.c'], overflow: false });
      await raw.connect();
      assert.deepEqual(await raw.mget('lost:active-from', 'lost:active-last'), ['1', '1']);
      assert.deepEqual(await raw.zrange('lost:active:scores', '0', '-1'), ['scores.c']);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
});

describe('activeChannels: redis store, channels published while it reads', () => {
  /** `h.c0000`, `h.c0001`...: more than the 1000 entries a page of a sorted set holds. */
  const channels = Array.from({ length: 1100 }, (_, i) => `h.c${String(i).padStart(4, '0')}`);
  /** A request that reads a page of a sorted set of channels (alone, or in the first MULTI). */
  const pageRead = /zrevrangebyscore|zrangebyscore/i;

  /** A store reading through a gate, and one appending directly to the same keys. */
  async function moving(
    run: (scanner: Store, writer: Store, gate: RedisGate) => Promise<void>,
  ): Promise<void> {
    const prefix = `moving${++prefixes}:`;
    const gate = await startRedisGate(redis);
    const writer = new RedisStore(redis.url, ctx, { prefix });
    const scanner = new RedisStore(gate.url, ctx, { prefix });
    try {
      await writer.open();
      await scanner.open();
      await run(scanner, writer, gate);
    } finally {
      await scanner.close();
      await writer.close();
      await gate.close();
    }
  }

  // In batches of 50 in order: h.c0000 is among the 100 oldest, on the second page.
  for (const [set, pattern] of [
    ['a head set', 'h.*'],
    ['the global set', '*.*'],
  ] as const)
    it(`finds a channel published between two pages of ${set}`, async () => {
      await moving(async (scanner, writer, gate) => {
        const cursor = await writer.head();
        await publish(writer, channels, 50);
        let reads = 0;
        gate.before = async (request) => {
          // Before the second page: h.c0000 moves from it to above the first.
          if (pageRead.test(request) && ++reads === 2) await writer.append('h.c0000', 'm', 1, Date.now());
        };
        const r = await active(scanner, [pattern], cursor, 5000);
        assert.ok(reads >= 2, `${reads} page reads`);
        assert.equal(r.overflow, false);
        assert.equal(r.channels[0], 'h.c0000');
        assert.deepEqual([...r.channels].sort(), channels);
      });
    });

  it('finds them when more than a page of channels move during the scan', async () => {
    await moving(async (scanner, writer, gate) => {
      const cursor = await writer.head();
      await publish(writer, channels, 50);
      let reads = 0;
      gate.before = async (request) => {
        if (!pageRead.test(request)) return;
        reads++;
        // Before the second page down: h.c0000 (on it, not read yet) moves just above the head seq
        // the scan began at, then the 1000 channels of the first page above it.
        if (reads === 2) {
          await writer.append('h.c0000', 'm', 1, Date.now());
          await publish(writer, channels.slice(100), 50);
        }
        // Between the two pages above that head seq: h.c0000 moves again, to the top.
        if (reads === 4) await writer.append('h.c0000', 'm', 1, Date.now());
      };
      const r = await active(scanner, ['h.*'], cursor, 5000);
      assert.equal(r.overflow, false);
      assert.equal(r.channels[0], 'h.c0000');
      assert.deepEqual([...r.channels].sort(), channels);
      assert.ok(reads >= 4, `${reads} page reads`);
    });
  });
});

describe('activeChannels: memory store', () => {
  it('forgets the channels it forgets under its byte bound', async () => {
    const store = new MemoryStore(ctx, { maxBytes: 64 * 1024 });
    await store.open();
    try {
      const channels = Array.from({ length: 2000 }, (_, i) => `c${i % 7}.n${i}`);
      await publish(store, channels);
      assert.ok(store.channels < 2000, `${store.channels} channels held`);
      const seen = await Promise.all(
        [0, 1, 2, 3, 4, 5, 6].map((h) => store.activeChannels([`c${h}.*`], 0, 10_000)),
      );
      const held = seen.reduce((n, r) => n + r.channels.length, 0);
      assert.equal(held, store.channels);
      const all = await store.activeChannels(['**'], 0, 10_000);
      assert.equal(all.channels.length, store.channels);
      assert.equal(all.channels[0], channels[channels.length - 1]);
    } finally {
      await store.close();
    }
  });
});
