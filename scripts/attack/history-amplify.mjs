#!/usr/bin/env node
// History read amplification, against a hub in a child process on loopback: `messages` messages of
// `size` bytes on one channel, then `clients` clients that each open a connection every second for
// `seconds` seconds, ask `GET /sub/amp?last=N&mode=poll` (a ~70-byte request) and never read the
// answer. Meanwhile another client times GET /healthz every 250 ms and the hub's RSS is sampled;
// one reading client polls the same thing once to show the answer's status and size.
//
//   node scripts/attack/history-amplify.mjs [--dist dist] [--messages 450] [--size 1048000]
//     [--clients 6] [--seconds 20] [--heap 4096] [--capMb 6144] [--transport poll|sse]
//
// --dist picks the build to attack (this checkout's dist/ by default; build another version's with
// its own `node scripts/build.mjs` to compare). The hub is SIGKILLed if its RSS passes --capMb.
import { connect } from 'node:net';
import { join } from 'node:path';
import { args, hubOutcome, monitor, publishPaced, rssOf, runAttack, timed } from './lib.mjs';

const o = args({
  dist: 'dist',
  messages: 450,
  size: 1_048_000,
  clients: 6,
  seconds: 20,
  heap: 4096,
  capMb: 6144,
  transport: 'poll',
});
await runAttack(
  o.dist,
  o.heap,
  (dir) => ({ store: `sqlite:${join(dir, 'cometa.db')}`, retention: { maxMessages: 1000 } }),
  async (hub, _dir, alive) => {
    // Within the publish rate limit (100/s per IP, bursts of 200).
    const published = await publishPaced(
      hub.port,
      o.messages,
      o.size,
      80,
      () => 'amp',
      alive,
      Date.now() + 120_000,
    );
    const before = rssOf(hub.pid);
    const mon = monitor(hub, 250, o.capMb);
    const target = `/sub/amp?last=${o.messages}&mode=poll`;
    // The never-reading clients ask for a poll answer, or with --transport sse for a stream replay.
    const attack = o.transport === 'sse' ? `/sub/amp?last=${o.messages}&transport=sse` : target;
    const probe = timed(hub.port, 'GET', target, undefined, 60_000);
    const sockets = [];
    const end = Date.now() + o.seconds * 1000;
    while (Date.now() < end && alive()) {
      for (let c = 0; c < o.clients; c++) {
        const s = connect(hub.port, '127.0.0.1');
        s.on('error', () => {});
        s.pause(); // never reads
        s.write(`GET ${attack} HTTP/1.1\r\nHost: x\r\n\r\n`);
        sockets.push(s);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    const answer = await probe;
    const seen = await mon.stop();
    const outcome = await hubOutcome(hub, before, seen, alive);
    for (const s of sockets) s.destroy();
    return {
      attack: 'history-amplify',
      dist: o.dist,
      messages: o.messages,
      size: o.size,
      published,
      transport: o.transport,
      clients: o.clients,
      connections: sockets.length,
      seconds: o.seconds,
      heapMb: o.heap,
      readingPoll: { status: answer.status, bytes: answer.bytes, ms: Math.round(answer.ms) },
      ...outcome,
    };
  },
);
