#!/usr/bin/env node
// Durable Streams catch-up reads that the hub gzips, against a hub in a child process on loopback:
// one stream of `mb` MiB (appends of `chunk` bytes of log-like text, within the default publish
// rate limit), then `clients` clients that each re-read it from offset -1 to its tail, page by
// page (`streams.maxReadBytes`), with `Accept-Encoding: gzip`, over and over for `seconds` seconds.
// Reading needs no credentials on a hub without access control. Meanwhile another client times
// GET /healthz every 250 ms; the hub's CPU time (user + system, /proc) is taken over the attack.
//
//   node scripts/attack/streams-gzip.mjs [--dist dist] [--mb 64] [--chunk 1048000] [--clients 1]
//     [--seconds 20] [--gzip 1] [--heap 1024] [--capMb 4096]
//
// `--gzip 0` reads without Accept-Encoding, to compare with what the same reads cost unzipped.
// `--vary 1` makes the stream JSON (each append an array of about 1 KB messages, one record each)
// and starts every read at a random message instead of -1: every page differs from the last, so
// no cache of compressed pages can help.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { args, hubOutcome, monitor, rssOf, runAttack, timed } from './lib.mjs';

const o = args({
  dist: 'dist',
  mb: 64,
  chunk: 1_048_000,
  clients: 1,
  seconds: 20,
  gzip: 1,
  vary: 0,
  heap: 1024,
  capMb: 4096,
});

/** CPU seconds (user + system) the process has used. */
function cpuOf(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Log-like text: compresses as real JSON or logs do (about 4:1), not as zeros do. */
function text(bytes, seed) {
  let s = '';
  let i = seed;
  while (s.length < bytes) {
    i = (i * 1103515245 + 12345) >>> 0;
    s += `{"t":${1700000000000 + i},"user":"u${i % 9973}","ev":"view","path":"/p/${(i >>> 8) % 4096}","ms":${i % 997}}\n`;
  }
  return Buffer.from(s.slice(0, bytes));
}

await runAttack(
  o.dist,
  o.heap,
  () => ({ store: 'memory' }),
  async (hub, _dir, alive) => {
    const path = '/v1/stream/big';
    const type = o.vary ? 'application/json' : 'text/plain';
    const created = await timed(hub.port, 'PUT', path, undefined, 5000, { 'content-type': type });
    // JSON: the same text cut into messages of about 1 KB (an array of strings).
    const size = o.vary ? o.chunk - 4 * Math.ceil(o.chunk / 1000) - 16 : o.chunk;
    const body = (i) => {
      const t = text(size, i).toString().replaceAll('"', "'").replaceAll('\n', ' ');
      if (!o.vary) return Buffer.from(t);
      const parts = [];
      for (let k = 0; k < t.length; k += 1000) parts.push(t.slice(k, k + 1000));
      return Buffer.from(JSON.stringify(parts));
    };
    let messages = 0;
    const appends = Math.ceil((o.mb * 2 ** 20) / o.chunk);
    const statuses = {};
    const t0 = performance.now();
    for (let i = 0; i < appends && alive(); i++) {
      // 50/s: within the default publish rate limit (100/s per IP), which stream writes count against.
      const wait = t0 + i * 20 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const r = await timed(hub.port, 'POST', path, body(i), 30_000, { 'content-type': type });
      if (r.status === 204) messages += o.vary ? Math.ceil(size / 1000) : 1;
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
    const before = rssOf(hub.pid);
    const mon = monitor(hub, 250, o.capMb);
    const cpu0 = cpuOf(hub.pid);
    const a0 = performance.now();
    const deadline = Date.now() + o.seconds * 1000;
    const agent = new Agent({ keepAlive: true, maxSockets: o.clients });
    const reads = { pages: 0, gzipped: 0, passes: 0, wireBytes: 0, statuses: {} };
    const get = (offset) =>
      new Promise((done) => {
        const headers = o.gzip ? { 'accept-encoding': 'gzip' } : {};
        const req = request(
          { host: '127.0.0.1', port: hub.port, path: `${path}?offset=${offset}`, agent, headers },
          (res) => {
            let n = 0;
            res.on('data', (d) => {
              n += d.length;
            });
            res.on('end', () => done({ res, n }));
            res.on('error', () => done({ res: undefined, n }));
          },
        );
        req.setTimeout(30_000, () => req.destroy());
        req.on('error', () => done({ res: undefined, n: 0 }));
        req.end();
      });
    const client = async () => {
      const start = () =>
        o.vary ? `${String(Math.floor(Math.random() * messages)).padStart(16, '0')}_${'0'.repeat(16)}` : '-1';
      let offset = start();
      while (alive() && Date.now() < deadline) {
        const { res, n } = await get(offset);
        const s = res?.statusCode ?? 0;
        reads.statuses[s] = (reads.statuses[s] ?? 0) + 1;
        if (s !== 200) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        reads.pages++;
        reads.wireBytes += n;
        if (res.headers['content-encoding'] === 'gzip') reads.gzipped++;
        if (res.headers['stream-up-to-date'] === 'true') {
          reads.passes++;
          offset = start();
        } else offset = o.vary ? start() : res.headers['stream-next-offset'];
      }
    };
    await Promise.all(Array.from({ length: o.clients }, client));
    const seconds = (performance.now() - a0) / 1000;
    const cpu = cpuOf(hub.pid) - cpu0;
    agent.destroy();
    const seen = await mon.stop();
    return {
      attack: 'streams-gzip',
      dist: o.dist,
      create: created.status,
      appends: statuses,
      clients: o.clients,
      acceptGzip: Boolean(o.gzip),
      randomStarts: Boolean(o.vary),
      records: messages,
      seconds: Math.round(seconds),
      pages: reads.pages,
      gzippedPages: reads.gzipped,
      passes: reads.passes,
      readStatuses: reads.statuses,
      wireMbPerSecond: Math.round(reads.wireBytes / 2 ** 20 / seconds),
      hubCpuSeconds: Math.round(cpu * 10) / 10,
      hubCpuPerWallSecond: Math.round((cpu / seconds) * 100) / 100,
      ...(await hubOutcome(hub, before, seen, alive)),
    };
  },
);
