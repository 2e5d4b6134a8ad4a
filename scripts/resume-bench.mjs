// Time of one wildcard resume's candidate lookup (Store.activeChannels) with many channels active
// under another first segment.
// Run: node --import tsx scripts/resume-bench.mjs [N] [rounds] [--src DIR] [store name filter]
//
// Per store (memory, SQLite in a temp file, Redis): publishes `scores.nba` and `scores.nhl`, then
// one message on each of N channels `busy.0` .. `busy.N-1` (default N = 100000), then times
// `rounds` calls (default 20) of activeChannels(patterns, cursor from before them all, max 1000)
// for `scores.*` (a literal first segment) and `*.nba` (none: every active channel is a
// candidate), and prints the median, min and max milliseconds and the answer (channels found,
// overflow). Also the cost of the N appends that fill the channels, which now keep the per-head
// indexes too: process CPU µs per append and, for Redis, the server's (INFO cpu) µs per append
// (memory: one append at a time; SQLite and Redis: 1000 in flight). `--src DIR` imports the stores from another checkout's `src` (e.g. the previous
// version, extracted with `git archive`), so before and after run the same loop. It starts its own
// redis-server on a free loopback port (no persistence; not when the filter leaves Redis out) and
// uses a temp dir, removed at the end.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startRedis } from '../test/helpers/redis.ts';

const args = process.argv.slice(2);
let src = resolve(import.meta.dirname, '..');
const srcAt = args.indexOf('--src');
if (srcAt !== -1) {
  src = resolve(args[srcAt + 1] ?? '.');
  args.splice(srcAt, 2);
}
// Bounded: at most a million channels and 1000 rounds.
const N = Math.min(Number(args[0] ?? 100_000), 1_000_000);
const ROUNDS = Math.min(Number(args[1] ?? 20), 1000);
const filter = args[2] ?? '';
const PATTERNS = [['scores.*'], ['*.nba']];
const MAX = 1000;

const load = (name) => import(pathToFileURL(join(src, 'src/hub/stores', name)).href);
const { MemoryStore } = await load('memory.ts');
const { SqliteStore } = await load('sqlite.ts');
const { RedisStore } = await load('redis.ts');

const ctx = { retentionFor: () => ({ maxMessages: 10, maxAgeMs: 3_600_000 }) };
const dir = mkdtempSync(join(tmpdir(), 'cometa-resume-bench-'));
const redis = 'redis'.includes(filter) ? await startRedis() : null;

const stores = {
  memory: () => new MemoryStore(ctx),
  sqlite: () => new SqliteStore(join(dir, 'resume.db'), ctx),
  redis: () => new RedisStore(redis.url, ctx, { prefix: 'resume:' }),
};

/** The Redis server's CPU time so far, in µs (user + system, INFO cpu). */
async function redisCpu() {
  const info = await redis.command('INFO cpu');
  const field = (f) => Number(new RegExp(`${f}:([0-9.]+)`).exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

async function bench(name, make) {
  const store = make();
  await store.open();
  store.listen(() => {});
  const cursor = await store.head();
  await store.append('scores.nba', 'm', 1, Date.now());
  await store.append('scores.nhl', 'm', 1, Date.now());
  const inFlight = name === 'memory' ? 1 : 1000;
  const cpu0 = process.cpuUsage();
  const server0 = name === 'redis' ? await redisCpu() : 0;
  for (let i = 0; i < N; i += inFlight) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + inFlight); j++)
      batch.push(store.append(`busy.${j}`, 'm', 1, Date.now()));
    await Promise.all(batch);
  }
  const cpu = process.cpuUsage(cpu0);
  const server = name === 'redis' ? `, redis-server ${(((await redisCpu()) - server0) / N).toFixed(1)}` : '';
  console.log(
    `${name.padEnd(7)} fill      ${((cpu.user + cpu.system) / N).toFixed(1)} us CPU per append${server}`,
  );
  for (const patterns of PATTERNS) {
    await store.activeChannels(patterns, cursor, MAX); // warm-up (statements, script cache)
    const ms = [];
    let answer;
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      answer = await store.activeChannels(patterns, cursor, MAX);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    const median = ms[Math.floor(ms.length / 2)];
    console.log(
      `${name.padEnd(7)} ${patterns.join(',').padEnd(9)} median ${median.toFixed(2)} ms (min ${ms[0].toFixed(2)}, max ${ms[ms.length - 1].toFixed(2)})` +
        ` -> ${answer.channels.length} channels${answer.overflow ? ', overflow' : ''}`,
    );
  }
  await store.close();
}

try {
  console.log(`N=${N} channels busy.*, ${ROUNDS} rounds, stores from ${src}`);
  for (const [name, make] of Object.entries(stores)) if (name.includes(filter)) await bench(name, make);
} finally {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
}
