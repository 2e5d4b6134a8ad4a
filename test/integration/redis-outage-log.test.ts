// A Redis that goes away while the hub runs: ioredis reconnects every second or so, and the hub
// must say so once ("store unreachable at HOST:PORT"), not once per attempt and not with a stack;
// and once more when Redis is back.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createHub } from '../../src/hub/index.js';
import { startRedis } from '../helpers/redis.js';

test('an unreachable Redis is logged once with its address, and its return once', async () => {
  const redis = await startRedis();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  const hub = createHub({ store: redis.url, logger: pino({ level: 'warn' }, sink) });
  try {
    await hub.ready;
    const address = new URL(redis.url).host;
    await redis.stop();
    await sleep(4000); // several reconnect attempts
    const down = lines.filter((l) => l.includes('store unreachable'));
    assert.equal(down.length, 1, lines.join('\n'));
    assert.ok(down[0]!.includes(`store unreachable at ${address}`), String(down[0]));
    assert.ok(!lines.some((l) => l.includes('"stack"')), `a stack in the log:\n${lines.join('\n')}`);
    await redis.start();
    for (let i = 0; i < 100 && !lines.some((l) => l.includes('store reachable again')); i++) await sleep(100);
    assert.equal(
      lines.filter((l) => l.includes(`store reachable again at ${address}`)).length,
      1,
      lines.join('\n'),
    );
  } finally {
    await hub.close();
    await redis.stop();
  }
});
