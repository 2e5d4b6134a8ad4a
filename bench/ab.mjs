// A/B of two or more hub builds on the publish flood (the `publish` scenario's load) or on
// long-poll round trips with a message waiting (`--scenario longpoll`, that scenario's load), alternating
// builds run by run so that the machine's drift hits every build alike, and pinned: the hub on CPU
// 0, this script and its load generator on CPU 1 (taskset), which takes most of the scheduler's
// noise out of a 2-core VM. Prints each run and the medians; the figure to trust is how many
// alternating pairs favour a build, not one run.
//
// Usage: taskset -c 1 node bench/ab.mjs [--scenario publish|longpoll] [--reps 6] [--seconds 5]
//        [--store sqlite|memory] DIST...
// Each DIST is a built `dist/` directory whose parent resolves the hub's dependencies (a
// node_modules next to it), e.g. two copies of the repo built at different commits, or a peer
// script started as `node SCRIPT PORT` (a floor in bench/peers/, or a variant of one).
// COMETA_BENCH_NODE_FLAGS adds Node flags to each server (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
import { fork, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, waitForPort } from './lib/net.mjs';
import { sample } from './lib/proc.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    reps: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '5' },
    store: { type: 'string', default: 'sqlite' },
    scenario: { type: 'string', default: 'publish' },
  },
});
if (positionals.length === 0) {
  console.error(
    'usage: taskset -c 1 node bench/ab.mjs [--reps N] [--seconds S] [--store sqlite|memory] DIST...',
  );
  process.exit(2);
}
const builds = positionals.map((d) => resolve(d));
const CH = Array.from({ length: 100 }, (_, i) => `c-${i}`);
const worker = fork(join(import.meta.dirname, 'loadgen', 'worker.mjs'), [], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
let id = 0;
const waiting = new Map();
worker.on('message', (m) => {
  const w = waiting.get(m.id);
  waiting.delete(m.id);
  if (m.error) w.reject(new Error(m.error));
  else w.resolve(m.result);
});
const call = (cmd, spec) =>
  new Promise((res, rej) => {
    waiting.set(++id, { resolve: res, reject: rej });
    worker.send({ id, cmd, spec });
  });

async function one(dist) {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-ab-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const port = await freePort();
  const flags = process.env.COMETA_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const args = [...flags];
  if (dist.endsWith('.mjs')) args.push(dist, String(port));
  else {
    args.push(join(dist, 'cli', 'main.js'), 'serve', '--port', String(port), '--host', '127.0.0.1');
    args.push('--max-connections', '0', '--max-connections-per-ip', '0', '--publish-rate-per-ip', '0');
    args.push('--data-dir', data);
    if (values.store === 'memory') args.push('--store', 'memory');
  }
  // taskset execs node: the pid sampled is the hub's.
  const hub = spawn('taskset', ['-c', '0', process.execPath, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitForPort(port, '127.0.0.1', 15000, () => hub.exitCode === null);
    const seconds = Number(values.seconds);
    let run;
    if (values.scenario === 'longpoll') {
      // As the longpoll scenario: a cursor before the newest of two stored messages.
      const { bodies } = await call('prime', { port, channel: CH[0], count: 2, size: 64 });
      const since = encodeURIComponent(JSON.parse(bodies[0].body).id);
      const head = `GET /sub/${CH[0]}?since=${since} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
      run = async (duration) => (await call('lproundtrips', { port, head, duration, conns: 4 })).withPayload;
    } else {
      run = async (duration) =>
        (await call('flood', { port, channels: CH, duration, conns: 4, size: 64 })).statuses['202'] ?? 0;
    }
    await run(1); // warm-up
    const a = sample(hub.pid);
    const t0 = Date.now();
    const ok = await run(seconds);
    const b = sample(hub.pid);
    const wall = (Date.now() - t0) / 1000;
    return { rate: ok / wall, us: ((b.cpu - a.cpu) * 1e6) / ok, user: ((b.user - a.user) * 1e6) / ok };
  } finally {
    hub.kill('SIGTERM');
    await new Promise((res) => hub.once('exit', res));
    rmSync(dir, { recursive: true, force: true });
  }
}

const unit = values.scenario === 'longpoll' ? 'round trip' : 'publish';
const units = values.scenario === 'longpoll' ? 'round trips' : 'publishes';
const runs = builds.map(() => []);
for (let r = 0; r < Number(values.reps); r++) {
  for (let i = 0; i < builds.length; i++) {
    const x = await one(builds[i]);
    runs[i].push(x);
    console.log(
      `${builds[i]}: ${x.rate.toFixed(0)} ${units}/s, ${x.us.toFixed(1)} µs CPU/${unit} (user ${x.user.toFixed(1)})`,
    );
  }
}
const median = (xs) => {
  const s = xs.slice().sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
console.log('--- medians');
builds.forEach((b, i) => {
  const rs = runs[i];
  console.log(
    `${b}: ${median(rs.map((x) => x.rate)).toFixed(0)} ${units}/s, ${median(rs.map((x) => x.us)).toFixed(1)} µs CPU/${unit}`,
  );
});
if (builds.length === 2) {
  const wins = runs[1].filter((x, k) => x.us < runs[0][k].us).length;
  console.log(`pairs where the second build spent less CPU per ${unit}: ${wins} of ${runs[1].length}`);
}
worker.disconnect();
worker.kill();
