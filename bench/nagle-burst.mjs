// How long Nagle holds the second message of a burst (docs/operations.md, `tcpNoDelay`).
// Run: node bench/nagle-burst.mjs [--no-tcp-no-delay]   (after `npm run build`; or
// COMETA_BENCH_DIST=/path/to/dist). Starts a hub (memory store) on 127.0.0.1, opens one SSE
// subscriber on a raw socket, publishes 40 bursts of two messages 2 ms apart, 150 ms between
// bursts, and prints the latency percentiles of the first and the second message of each burst.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib/net.mjs';

const dist = process.env.COMETA_BENCH_DIST ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const extra = process.argv.slice(2);
const BURSTS = 40;
const port = await freePort();
const hub = spawn(
  process.execPath,
  [
    join(dist, 'cli/main.js'),
    'serve',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--store',
    'memory',
    ...extra,
  ],
  { stdio: 'ignore' },
);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
try {
  for (let i = 0; i < 50; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    await sleep(100);
  }
  const lat = { 1: [], 2: [] };
  const socket = connect(port, '127.0.0.1');
  socket.write('GET /sub/nagle HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
  let buf = '';
  socket.on('data', (d) => {
    const t = now();
    buf += d;
    for (const m of buf.matchAll(/"t":([0-9.]+),"k":(\d)/g)) lat[m[2]].push(t - Number(m[1]));
    buf = buf.slice(buf.lastIndexOf('\n'));
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const publish = (k) =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ t: now(), k });
      const req = request({ port, host: '127.0.0.1', path: '/pub/nagle', method: 'POST', agent }, (res) =>
        res.resume().on('end', resolve),
      );
      req.on('error', reject);
      req.setHeader('content-type', 'application/json');
      req.end(body);
    });
  await sleep(500);
  const sent = [];
  for (let i = 0; i < BURSTS; i++) {
    sent.push(publish(1));
    await sleep(2);
    sent.push(publish(2));
    await sleep(150);
  }
  await Promise.all(sent);
  await sleep(500);
  socket.destroy();
  agent.destroy();
  const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))] ?? NaN;
  const line = (a) =>
    `p50 ${pct(a, 0.5).toFixed(2)} p90 ${pct(a, 0.9).toFixed(2)} max ${pct(a, 1).toFixed(2)} ms (${a.length}/${BURSTS})`;
  console.log(`hub ${extra.join(' ') || '(tcpNoDelay on)'}`);
  console.log(`  first message of a burst:  ${line(lat[1])}`);
  console.log(`  second message (2 ms later): ${line(lat[2])}`);
} finally {
  hub.kill();
}
