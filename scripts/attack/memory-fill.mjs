#!/usr/bin/env node
// Retained-bytes exhaustion, against a hub in a child process on loopback: `count` publishes of
// `size` bytes, each to a new channel (so per-channel retention never trims), at `rate` per second
// (within the default publish rate limit of 100/s per IP), for at most `seconds` seconds or until
// the hub dies. Meanwhile another client times GET /healthz every 250 ms and the hub's RSS is
// sampled. `--heap` gives the hub a modest V8 heap so an unbounded store runs out within the time.
//
//   node scripts/attack/memory-fill.mjs [--dist dist] [--store memory|sqlite] [--count 1500]
//     [--size 1048000] [--rate 80] [--seconds 40] [--heap 1024] [--capMb 6144] [--sqliteQuery '']
//
// --sqliteQuery is appended to the SQLite store's spec, e.g. `?maxBytes=268435456` for a smaller
// disk quota than the default (reached sooner: 1 MiB publishes go into SQLite at about 12/s here).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { args, hubOutcome, monitor, publishPaced, rssOf, runAttack } from './lib.mjs';

const o = args({
  dist: 'dist',
  store: 'memory',
  count: 1500,
  size: 1_048_000,
  rate: 80,
  seconds: 40,
  heap: 1024,
  capMb: 6144,
  sqliteQuery: '',
});
await runAttack(
  o.dist,
  o.heap,
  (dir) => ({ store: o.store === 'sqlite' ? `sqlite:${join(dir, 'cometa.db')}${o.sqliteQuery}` : 'memory' }),
  async (hub, dir, alive) => {
    const before = rssOf(hub.pid);
    const mon = monitor(hub, 250, o.capMb);
    const t0 = Date.now();
    const statuses = await publishPaced(
      hub.port,
      o.count,
      o.size,
      o.rate,
      (i) => `fill-${i}`,
      alive,
      Date.now() + o.seconds * 1000,
    );
    const seconds = (Date.now() - t0) / 1000;
    const seen = await mon.stop();
    let diskMb;
    if (o.store === 'sqlite') {
      diskMb = 0;
      const db = join(dir, 'cometa.db');
      for (const f of [db, `${db}-wal`])
        try {
          diskMb += statSync(f).size / 2 ** 20;
        } catch {}
      diskMb = Math.round(diskMb);
    }
    return {
      attack: 'memory-fill',
      dist: o.dist,
      store: o.store,
      size: o.size,
      rate: o.rate,
      publishes: statuses,
      seconds: Math.round(seconds),
      heapMb: o.heap,
      diskMb,
      ...(await hubOutcome(hub, before, seen, alive)),
    };
  },
);
