// Store throughput and Redis fan-out latency.
// Run: node --import tsx scripts/store-bench.mjs [seconds] [store name filter, e.g. sqlite]
//
// - resume reads (the newest message after a cursor: every long-poll round trip), us CPU per read
//   for memory and SQLite with its tail cache on and off;
// - appends/s for every store, one at a time (await each: a publisher waiting for its 202) and
//   with 64 in flight (many publishers at once), and the process CPU time per append (steadier
//   than the rate on a shared machine). "full" rows first fill every channel to its retention,
//   so each measured append also trims one message (a long-running hub); the others start empty;
// - Redis fan-out, fanout=stream vs fanout=pubsub: two stores (two "hubs") on one Redis, one
//   publishing at a fixed rate, latency from append() to the other store's listener, p50/p99/max,
//   then the saturated delivery rate.
// It starts its own redis-server on a free loopback port (no persistence; not when the filter
// leaves out every Redis row) and uses a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/hub/stores/memory.ts';
import { RedisStore } from '../src/hub/stores/redis.ts';
import { SqliteStore } from '../src/hub/stores/sqlite.ts';
import { startRedis } from '../test/helpers/redis.ts';

const seconds = Number(process.argv[2] ?? 2);
const filter = process.argv[3] ?? '';
const CHANNELS = 100;
const RETAIN = 1000;
const ctx = { retentionFor: () => ({ maxMessages: RETAIN, maxAgeMs: 3_600_000 }) };
const payload = { user: 'alice', text: 'hello world, this is a chat message of moderate size', n: 0 };
const dir = mkdtempSync(join(tmpdir(), 'cometa-bench-'));
const REDIS_ROWS = ['redis (fanout=stream)', 'redis (fanout=pubsub)'];
const redis = REDIS_ROWS.some((name) => name.includes(filter)) ? await startRedis() : null;
let prefixes = 0;

const FULL = CHANNELS * RETAIN + CHANNELS; // appends that fill every channel and start trimming
const stores = {
  memory: [() => new MemoryStore(ctx)],
  'sqlite (sync=normal)': [() => new SqliteStore(join(dir, `n${++prefixes}.db`), ctx)],
  'sqlite (sync=normal), full': [() => new SqliteStore(join(dir, `n${++prefixes}.db`), ctx), FULL],
  'sqlite (sync=full)': [() => new SqliteStore(join(dir, `f${++prefixes}.db`), ctx, { sync: 'full' })],
  [REDIS_ROWS[0]]: [() => new RedisStore(redis.url, ctx, { prefix: `b${++prefixes}:`, fanout: 'stream' })],
  [REDIS_ROWS[1]]: [() => new RedisStore(redis.url, ctx, { prefix: `b${++prefixes}:`, fanout: 'pubsub' })],
};

/** Appends for `seconds` with `inFlight` at a time (after `prefill` unmeasured appends). */
async function throughput(make, inFlight, prefill = 0) {
  const store = make();
  await store.open();
  store.listen(() => {});
  let n = 0;
  async function worker(until) {
    while (until()) await store.append(`ch${n % CHANNELS}`, 'msg', { ...payload, n: n++ }, Date.now());
  }
  if (prefill > 0) await Promise.all(Array.from({ length: 64 }, () => worker(() => n < prefill)));
  const n0 = n;
  const end = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, () => worker(() => performance.now() < end)));
  const cpu = process.cpuUsage(cpu0);
  const rate = (n - n0) / ((performance.now() - t0) / 1000);
  const cpuUs = (cpu.user + cpu.system) / (n - n0);
  await store.close();
  return { rate, cpuUs };
}

/**
 * Resume reads: the read a long-poll round trip or a reconnecting stream makes, the newest message
 * of one channel after a cursor just before it, in a loop for `seconds` (100 channels of 50).
 */
async function resumeReads(make) {
  const store = make();
  await store.open();
  store.listen(() => {});
  for (let i = 0; i < CHANNELS * 50; i++)
    await store.append(`ch${i % CHANNELS}`, 'msg', { ...payload, n: i }, Date.now());
  const newest = (await store.info('ch7')).lastSeq;
  let n = 0;
  const end = performance.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  while (performance.now() < end)
    for (let k = 0; k < 100; k++, n++)
      if ((await store.read(['ch7'], newest - 1, 100)).messages.length !== 1) throw new Error('read');
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  return (cpu.user + cpu.system) / n;
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function fanout(mode, ratePerSec) {
  const prefix = `fan${++prefixes}:`;
  const a = new RedisStore(redis.url, ctx, { prefix, fanout: mode });
  const b = new RedisStore(redis.url, ctx, { prefix, fanout: mode });
  await a.open();
  await b.open();
  a.listen(() => {});
  const sent = new Map();
  const lat = [];
  let received = 0;
  b.listen((e) => {
    if (e.type !== 'message') return;
    received++;
    const t = sent.get(e.message.data.n);
    if (t !== undefined) lat.push(performance.now() - t);
  });
  let n = 0;
  const t0 = performance.now();
  if (ratePerSec > 0) {
    // Paced: one message every 1000/rate ms (latency at a realistic load).
    const interval = 1000 / ratePerSec;
    while (performance.now() - t0 < seconds * 1000) {
      const i = n++;
      sent.set(i, performance.now());
      await a.append(`ch${i % 100}`, 'msg', { ...payload, n: i }, Date.now());
      const next = t0 + n * interval;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } else {
    // Saturated: 64 appends in flight.
    const end = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (performance.now() < end) {
          const i = n++;
          sent.set(i, performance.now());
          await a.append(`ch${i % 100}`, 'msg', { ...payload, n: i }, Date.now());
        }
      }),
    );
  }
  const deadline = performance.now() + 10_000;
  while (received < n && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const elapsed = (performance.now() - t0) / 1000;
  await a.close();
  await b.close();
  lat.sort((x, y) => x - y);
  return {
    sent: n,
    received,
    deliveredPerSec: Math.round(received / elapsed),
    p50: pct(lat, 50).toFixed(3),
    p99: pct(lat, 99).toFixed(3),
    max: lat[lat.length - 1].toFixed(3),
  };
}

try {
  console.log(`node ${process.version}, ${seconds} s per figure\n`);
  console.log('appends/s (us CPU/append)       1 in flight        64 in flight');
  const cell = (r) => `${Math.round(r.rate)} (${r.cpuUs.toFixed(1)})`.padStart(20);
  for (const [name, [make, prefill]] of Object.entries(stores)) {
    if (!name.includes(filter)) continue;
    const one = await throughput(make, 1, prefill);
    const many = await throughput(make, 64, prefill);
    console.log(`${name.padEnd(28)}${cell(one)}${cell(many)}`);
  }
  const readers = {
    memory: () => new MemoryStore(ctx),
    'sqlite (tail cache)': () => new SqliteStore(join(dir, `r${++prefixes}.db`), ctx),
    'sqlite (cache=0)': () => new SqliteStore(join(dir, `r${++prefixes}.db`), ctx, { cacheMessages: 0 }),
  };
  console.log('\nresume read of the newest message, us CPU/read');
  for (const [name, make] of Object.entries(readers)) {
    if (!name.includes(filter)) continue;
    console.log(`${name.padEnd(28)}${(await resumeReads(make)).toFixed(2).padStart(20)}`);
  }
  if (redis) {
    console.log('\nRedis fan-out, append() on hub A -> listener on hub B (ms)');
    for (const rate of [1000, 0]) {
      for (const mode of ['stream', 'pubsub']) {
        const r = await fanout(mode, rate);
        console.log(
          `${mode.padEnd(7)} ${rate ? `${rate}/s paced` : 'saturated '}  sent ${r.sent} received ${r.received} ` +
            `(${r.deliveredPerSec}/s)  p50 ${r.p50}  p99 ${r.p99}  max ${r.max}`,
        );
      }
    }
  }
} finally {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
}
