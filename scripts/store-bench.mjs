// Store throughput and Redis fan-out latency. Run: node --import tsx scripts/store-bench.mjs [seconds]
//
// - appends/s for every store, one at a time (await each: a publisher waiting for its 202) and
//   with 64 in flight (many publishers at once);
// - Redis fan-out, fanout=stream vs fanout=pubsub: two stores (two "hubs") on one Redis, one
//   publishing at a fixed rate, latency from append() to the other store's listener, p50/p99/max,
//   then the saturated delivery rate.
// It starts its own redis-server on a free loopback port (no persistence) and uses a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/hub/stores/memory.ts';
import { RedisStore } from '../src/hub/stores/redis.ts';
import { SqliteStore } from '../src/hub/stores/sqlite.ts';
import { startRedis } from '../test/helpers/redis.ts';

const seconds = Number(process.argv[2] ?? 2);
const ctx = { retentionFor: () => ({ maxMessages: 1000, maxAgeMs: 3_600_000 }) };
const payload = { user: 'alice', text: 'hello world, this is a chat message of moderate size', n: 0 };
const dir = mkdtempSync(join(tmpdir(), 'cometa-bench-'));
const redis = await startRedis();
let prefixes = 0;

const stores = {
  memory: () => new MemoryStore(ctx),
  'sqlite (sync=normal)': () => new SqliteStore(join(dir, `n${++prefixes}.db`), ctx),
  'sqlite (sync=full)': () => new SqliteStore(join(dir, `f${++prefixes}.db`), ctx, { sync: 'full' }),
  'redis (fanout=stream)': () =>
    new RedisStore(redis.url, ctx, { prefix: `b${++prefixes}:`, fanout: 'stream' }),
  'redis (fanout=pubsub)': () =>
    new RedisStore(redis.url, ctx, { prefix: `b${++prefixes}:`, fanout: 'pubsub' }),
};

async function throughput(make, inFlight) {
  const store = make();
  await store.open();
  store.listen(() => {});
  let n = 0;
  const end = performance.now() + seconds * 1000;
  async function worker() {
    while (performance.now() < end) {
      await store.append(`ch${n % 100}`, 'msg', { ...payload, n: n++ }, Date.now());
    }
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const rate = n / ((performance.now() - t0) / 1000);
  await store.close();
  return rate;
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
  console.log('appends/s            1 in flight   64 in flight');
  for (const [name, make] of Object.entries(stores)) {
    const one = await throughput(make, 1);
    const many = await throughput(make, 64);
    console.log(
      `${name.padEnd(22)}${Math.round(one).toString().padStart(10)}${Math.round(many).toString().padStart(15)}`,
    );
  }
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
} finally {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
