// Presence on Redis keeps nothing for a channel once its members are gone: a member flood over many
// distinct channels (each joined and left) must not leave the hub's channel index, the member
// hashes or the counters behind, and a reap after kill -9 must not visit channels long empty.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sleep, startHub, waitFor } from '../helpers/hub.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { openSubscription } from '../helpers/transport-clients.js';

/** Keys matching `pattern` and the size of each (SCARD / HLEN / ZCARD by type). */
async function keysOf(redis: RedisServer, pattern: string): Promise<string[]> {
  const reply = await redis.command(`KEYS ${pattern}`);
  return reply.split('\r\n').filter((l) => l !== '' && !l.startsWith('*') && !l.startsWith('$'));
}

describe('presence on Redis: no keys left after members leave', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  it('200 channels joined and left leave no per-channel entry in Redis', async () => {
    const hub = await startHub({
      store: `${redis.url}?prefix=pk:`,
      channels: [{ pattern: 'lobby.*', presence: 'anonymous' as const }],
      presence: { coalesceMs: 0 },
      limits: { maxChannelsPerSubscription: 20 },
    });
    try {
      const N = 200;
      for (let i = 0; i < N; i += 20) {
        const channels = Array.from({ length: 20 }, (_, j) => `lobby.c${i + j}`);
        const sub = openSubscription('sse', hub.url, channels, { query: { member: `m${i}` } });
        await waitFor(
          () => channels.every((c) => hub.hub.core.presence.localCount(c) === 1),
          10_000,
          'members joined',
        );
        sub.close();
      }
      await waitFor(
        () =>
          Array.from({ length: N }, (_, i) => `lobby.c${i}`).every(
            (c) => hub.hub.core.presence.localCount(c) === 0,
          ),
        10_000,
        'members left',
      );
      await sleep(300); // the leaves reach Redis
      const left = [...(await keysOf(redis, 'pk:pm:*')), ...(await keysOf(redis, 'pk:pc:*'))];
      assert.deepEqual(left, [], 'member hashes of empty channels');
      const index = await keysOf(redis, 'pk:phc:*');
      const sizes = await Promise.all(
        index.map((k) =>
          redis.command(`TYPE ${k}`).then(async (t) => {
            const type = t.trim().slice(1);
            const cmd = type === 'set' ? 'SCARD' : type === 'hash' ? 'HLEN' : 'EXISTS';
            return Number((await redis.command(`${cmd} ${k}`)).trim().slice(1));
          }),
        ),
      );
      assert.deepEqual(
        sizes.filter((n) => n > 0),
        [],
        `channels still indexed for this hub: ${sizes.join(',')}`,
      );
    } finally {
      await hub.close();
    }
  });
});
