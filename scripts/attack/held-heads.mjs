#!/usr/bin/env node
// Held publish heads: opens COUNT connections from 127.0.0.1 to a hub it starts itself, each sending
// a complete `POST /pub/...` head that announces a body and then never sending it, and measures what
// that costs everyone else: the descriptors the hub process holds (/proc/PID/fd) and the latency of
// `GET /healthz` from another client (127.0.0.2, so that its own per-IP count is separate).
//
// Loopback only, bounded: at most 15,000 connections and 120 s; every socket is closed at the end.
// Linux only (/proc). The hub is the build in ROOT/dist (run `node scripts/build.mjs` there first),
// with its default options but the memory store and no logs, and an open-file limit of
// --hub-fd-limit (2048 by default: the lockout a descriptor limit causes, at a bounded count).
//
// --partial sends the same heads without their blank line (slowloris: heads that never complete).
//
//   node scripts/attack/held-heads.mjs [--root DIR] [--count 3000] [--seconds 15] [--hub-fd-limit 2048]
//                                      [--partial]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: new URL('../..', import.meta.url).pathname },
    count: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '15' },
    'hub-fd-limit': { type: 'string', default: '2048' },
    // Heads that never end (no blank line): slowloris, cut by limits.headersTimeoutMs.
    partial: { type: 'boolean', default: false },
  },
});
const root = resolve(values.root);
const count = Math.min(15_000, Math.max(1, Number(values.count) | 0));
const seconds = Math.min(120, Math.max(2, Number(values.seconds) | 0));
const fdLimit = Math.min(65_536, Math.max(256, Number(values['hub-fd-limit']) | 0));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The hub, in its own process so that its descriptors and event loop are its own.
const hubCode = `
const { createHub } = await import(${JSON.stringify(pathToFileURL(`${root}/dist/hub/index.js`).href)});
const hub = createHub({ store: 'memory', logger: false });
const a = await hub.listen(0, '127.0.0.1');
process.stdout.write('port ' + a.port + '\\n');
process.on('SIGTERM', () => hub.close().then(() => process.exit(0)));
`;
// Its open-file limit lowered (ulimit -n): running out of descriptors, what the attack does to a
// hub at the system's limit, then takes a few thousand connections rather than tens of thousands.
const hub = spawn(
  '/bin/sh',
  ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, '--input-type=module', '-e', hubCode],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise((res, rej) => {
  let out = '';
  hub.stdout.on('data', (d) => {
    out += d;
    const m = /port (\d+)/.exec(out);
    if (m) res(Number(m[1]));
  });
  hub.once('exit', (code) => rej(new Error(`the hub exited (${code}) before listening`)));
});

const fds = () => {
  try {
    return readdirSync(`/proc/${hub.pid}/fd`).length;
  } catch {
    return -1;
  }
};

// The other client, in its own process (the attacker's event loop must not delay its readings):
// one `GET /healthz` on a new connection from 127.0.0.2 every 200 ms, printing its latency in ms,
// or `fail` (an error, a non-200 or no answer within 5 s).
const proberCode = `
import { request } from 'node:http';
const port = Number(process.argv[1]);
for (;;) {
  const ms = await new Promise((res) => {
    const start = performance.now();
    const req = request(
      { host: '127.0.0.1', port, path: '/healthz', localAddress: '127.0.0.2', agent: false, timeout: 5000 },
      (r) => {
        r.resume();
        r.on('end', () => res(r.statusCode === 200 ? performance.now() - start : null));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => res(null));
    req.end();
  });
  process.stdout.write((ms === null ? 'fail' : ms.toFixed(2)) + '\\n');
  await new Promise((r) => setTimeout(r, 200));
}
`;
function startProber() {
  const child = spawn(process.execPath, ['--input-type=module', '-e', proberCode, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const readings = [];
  let rest = '';
  child.stdout.on('data', (d) => {
    const lines = (rest + d).split('\n');
    rest = lines.pop();
    for (const l of lines) readings.push(l === 'fail' ? null : Number(l));
  });
  return {
    readings,
    stop: () => {
      child.kill('SIGTERM');
      return new Promise((r) => child.once('exit', r));
    },
  };
}

// One second of readings before the attack.
const before = startProber();
await sleep(1200);
await before.stop();
const baseline = { fds: fds(), readings: before.readings };

// The attack: complete heads announcing 1 KiB bodies that never come.
const full =
  'POST /pub/attack HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n';
const head = values.partial ? full.slice(0, -2) : full;
const sockets = [];
let connected = 0;
let refused503 = 0;
let closedByHub = 0;
let connectErrors = 0;
const started = Date.now();
const deadline = started + seconds * 1000;
const opening = (async () => {
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    sockets.push(s);
    let first = true;
    s.on('connect', () => {
      connected++;
      s.write(head);
    });
    s.on('data', (d) => {
      if (first && d.toString('latin1', 0, 12) === 'HTTP/1.1 503') refused503++;
      first = false;
    });
    s.on('error', () => {
      if (!s.connecting) return;
      connectErrors++;
    });
    s.on('close', () => {
      if (!s.destroyedByUs) closedByHub++;
    });
    // A few hundred at a time, so that the client side does not starve the measurements.
    if (i % 200 === 199) await sleep(20);
  }
})();

const prober = startProber();
let maxFds = baseline.fds;
while (Date.now() < deadline) {
  const f = fds();
  if (f > maxFds) maxFds = f;
  await sleep(100);
}
await prober.stop();
await opening;
const end = { fds: fds(), open: sockets.filter((s) => !s.destroyed).length };
for (const s of sockets) {
  s.destroyedByUs = true;
  s.destroy();
}
hub.kill('SIGTERM');
await new Promise((r) => hub.once('exit', r));

const samples = prober.readings.filter((ms) => ms !== null).sort((a, b) => a - b);
const failures = prober.readings.length - samples.length;
const median = (list) => {
  const ok = list.filter((ms) => ms !== null).sort((a, b) => a - b);
  return ok.length === 0 ? null : ok[ok.length >> 1];
};
const q = (p) =>
  samples.length === 0 ? null : samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
const round = (x) => (x === null ? null : Math.round(x * 10) / 10);
console.log(
  JSON.stringify(
    {
      root,
      count,
      seconds,
      hubFdLimit: fdLimit,
      partial: values.partial,
      baseline: { hubFds: baseline.fds, healthzP50Ms: round(median(baseline.readings)) },
      attack: {
        connected,
        connectErrors,
        answered503: refused503,
        closedByHub,
        stillOpenAtEnd: end.open,
      },
      hubFds: { max: maxFds, atEnd: end.fds },
      healthz: {
        samples: samples.length,
        failures,
        p50Ms: round(q(0.5)),
        p99Ms: round(q(0.99)),
        maxMs: round(samples.at(-1) ?? null),
      },
    },
    null,
    2,
  ),
);
