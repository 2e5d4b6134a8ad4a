#!/usr/bin/env node
// Durable Streams exhaustion, against a hub in a child process on loopback: `count` PUTs, each
// creating a new stream whose first content is `size` bytes, at `rate` per second (within the
// default publish rate limit of 100/s per IP, which stream writes count against), for at most
// `seconds` seconds or until the hub dies. Streams are open to anyone who can reach a hub without
// access control, so this needs no credentials. Meanwhile another client times GET /healthz every
// 250 ms and the hub's RSS is sampled; `--heap` gives the hub a modest V8 heap so an unbounded
// store runs out within the time.
//
//   node scripts/attack/streams-fill.mjs [--dist dist] [--store memory|sqlite] [--count 1500]
//     [--size 1048000] [--rate 80] [--seconds 40] [--heap 1024] [--capMb 6144]
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { args, hubOutcome, monitor, rssOf, runAttack, timed } from './lib.mjs';

const o = args({
  dist: 'dist',
  store: 'memory',
  count: 1500,
  size: 1_048_000,
  rate: 80,
  seconds: 40,
  heap: 1024,
  capMb: 6144,
});
await runAttack(
  o.dist,
  o.heap,
  (dir) => ({
    store: o.store === 'sqlite' ? `sqlite:${join(dir, 'cometa.db')}` : 'memory',
  }),
  async (hub, dir, alive) => {
    const before = rssOf(hub.pid);
    const mon = monitor(hub, 250, o.capMb);
    const body = Buffer.alloc(o.size, 0x61);
    const statuses = {};
    const t0 = performance.now();
    const deadline = Date.now() + o.seconds * 1000;
    for (let i = 0; i < o.count && alive() && Date.now() < deadline; i++) {
      const wait = t0 + (i * 1000) / o.rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const r = await timed(hub.port, 'PUT', `/v1/stream/fill-${i}`, body, 30_000, {
        'content-type': 'application/octet-stream',
      });
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
    const seconds = (performance.now() - t0) / 1000;
    const seen = await mon.stop();
    let diskMb;
    if (o.store === 'sqlite') {
      diskMb = 0;
      const db = join(dir, 'cometa.streams.db');
      for (const f of [db, `${db}-wal`])
        try {
          diskMb += statSync(f).size / 2 ** 20;
        } catch {}
      diskMb = Math.round(diskMb);
    }
    // One more create after the run, to show what a client is told once the store is full.
    const last = alive()
      ? await timed(hub.port, 'PUT', '/v1/stream/fill-last', body, 30_000, {
          'content-type': 'application/octet-stream',
        })
      : undefined;
    return {
      attack: 'streams-fill',
      dist: o.dist,
      store: o.store,
      size: o.size,
      rate: o.rate,
      creates: statuses,
      lastCreate: last === undefined ? null : last.status,
      seconds: Math.round(seconds),
      heapMb: o.heap,
      diskMb,
      ...(await hubOutcome(hub, before, seen, alive)),
    };
  },
);
