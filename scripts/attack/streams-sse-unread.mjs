#!/usr/bin/env node
// Durable Streams SSE readers that never read, against a hub in a child process on loopback: one
// binary stream of `mb` MiB (sent as base64 events, within the default publish rate limit), then
// `clients` raw connections that each ask for `?offset=-1&live=sse` and never read a byte. The hub
// runs with `streams.sseMaxSeconds` = `sse`; for `seconds` seconds the hub-side connections still
// established (/proc/net/tcp) and the hub's RSS are sampled, and /healthz is timed every 250 ms.
//
//   node scripts/attack/streams-sse-unread.mjs [--dist dist] [--mb 32] [--clients 100] [--sse 10]
//     [--seconds 30] [--heap 1024] [--capMb 4096] [--live sse|none] [--readMb 1] [--longPoll 25]
//     [--store memory|sqlite]
//
// `--live none` asks catch-up reads (`?offset=-1`, one page of `--readMb` MiB,
// `streams.maxReadBytes`) instead, with `streams.longPollTimeout` = `--longPoll` seconds.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { args, hubOutcome, monitor, rssOf, runAttack, timed } from './lib.mjs';

const o = args({
  dist: 'dist',
  mb: 32,
  clients: 100,
  sse: 10,
  seconds: 30,
  heap: 1024,
  capMb: 4096,
  live: 'sse',
  readMb: 1,
  longPoll: 25,
  store: 'memory',
});

/** Established TCP connections whose local port is `port` (the hub's side of each). */
function established(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '01') n++;
    }
  }
  return n;
}

await runAttack(
  o.dist,
  o.heap,
  (dir) => ({
    // The memory store hands out the records it holds; SQLite reads copies, as Redis does.
    store: o.store === 'sqlite' ? `sqlite:${join(dir, 'cometa.db')}` : 'memory',
    streams: { sseMaxSeconds: o.sse, maxReadBytes: o.readMb * 2 ** 20, longPollTimeout: o.longPoll },
  }),
  async (hub, _dir, alive) => {
    const path = '/v1/stream/unread';
    const type = { 'content-type': 'application/octet-stream' };
    const created = await timed(hub.port, 'PUT', path, undefined, 5000, type);
    const chunk = Buffer.alloc(1_000_000, 0x5a);
    const appends = {};
    const t0 = performance.now();
    for (let i = 0; i < Math.ceil((o.mb * 2 ** 20) / chunk.length) && alive(); i++) {
      const wait = t0 + i * 20 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const r = await timed(hub.port, 'POST', path, chunk, 30_000, type);
      appends[r.status] = (appends[r.status] ?? 0) + 1;
    }
    const before = rssOf(hub.pid);
    const mon = monitor(hub, 250, o.capMb);
    const sockets = [];
    for (let i = 0; i < o.clients; i++) {
      const s = connect(hub.port, '127.0.0.1');
      s.on('error', () => {});
      const live = o.live === 'sse' ? '&live=sse' : '';
      s.write(`GET ${path}?offset=-1${live} HTTP/1.1\r\nHost: h\r\n\r\n`);
      s.pause();
      sockets.push(s);
    }
    const a0 = Date.now();
    const held = [];
    while (alive() && Date.now() - a0 < o.seconds * 1000) {
      await new Promise((r) => setTimeout(r, 1000));
      // The monitor's own /healthz connection is not counted: it closes after each answer.
      held.push(established(hub.port));
    }
    const seen = await mon.stop();
    for (const s of sockets) s.destroy();
    const at = (s) => held[Math.min(held.length - 1, s - 1)];
    return {
      attack: 'streams-sse-unread',
      dist: o.dist,
      create: created.status,
      appends,
      clients: o.clients,
      store: o.store,
      live: o.live,
      ...(o.live === 'sse' ? { sseMaxSeconds: o.sse } : { maxReadMb: o.readMb, longPollSeconds: o.longPoll }),
      heldAfter: {
        '5s': at(5),
        [`${(o.live === 'sse' ? o.sse : o.longPoll) + 5}s`]: at((o.live === 'sse' ? o.sse : o.longPoll) + 5),
        [`${o.seconds}s`]: at(o.seconds),
      },
      ...(await hubOutcome(hub, before, seen, alive)),
    };
  },
);
