#!/usr/bin/env node
// Durable Streams read paths that take a client's input, against a hub in a child process on
// loopback: malformed and huge `offset` values, a fork chain as deep as `streams.maxForkDepth`
// allows (and one more), `reads` reads from -1 of the deepest fork against its root, and HEAD.
//
//   node scripts/attack/streams-read-probe.mjs [--dist dist] [--reads 50] [--heap 1024]
import { args, runAttack, timed } from './lib.mjs';

const o = args({ dist: 'dist', reads: 50, heap: 1024 });
const json = { 'content-type': 'application/json' };
await runAttack(
  o.dist,
  o.heap,
  () => ({ store: 'memory' }),
  async (hub) => {
    const p = hub.port;
    const root = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ i, s: 'x'.repeat(900) })));
    await timed(p, 'PUT', '/v1/stream/f0', root, 5000, json);
    const offsets = {};
    for (const off of ['9'.repeat(10_000), '9999999999999999_9999999999999999', '-2', '1e400']) {
      const r = await timed(p, 'GET', `/v1/stream/f0?offset=${off}`);
      offsets[off.length > 40 ? `${off.length} characters` : off] = {
        status: r.status,
        ms: Math.round(r.ms),
      };
    }
    let depth = 0;
    let refused;
    for (let d = 1; d <= 1000; d++) {
      const r = await timed(p, 'PUT', `/v1/stream/f${d}`, undefined, 5000, {
        'stream-forked-from': `/v1/stream/f${d - 1}`,
      });
      if (r.status !== 201) {
        refused = r.status;
        break;
      }
      depth = d;
      await timed(p, 'POST', `/v1/stream/f${d}`, `[{"d":${d}}]`, 5000, json);
    }
    const reads = {};
    for (const name of ['f0', `f${depth}`]) {
      let ms = 0;
      let bytes = 0;
      for (let k = 0; k < o.reads; k++) {
        const r = await timed(p, 'GET', `/v1/stream/${name}?offset=-1`);
        ms += r.ms;
        bytes += r.bytes;
      }
      reads[name] = {
        msPerRead: Math.round((ms / o.reads) * 10) / 10,
        bytesPerRead: Math.round(bytes / o.reads),
      };
    }
    const head = await timed(p, 'HEAD', `/v1/stream/f${depth}`);
    return {
      attack: 'streams-read-probe',
      dist: o.dist,
      offsets,
      forkDepth: depth,
      deeperFork: refused,
      readsFromStart: reads,
      head: { status: head.status, ms: Math.round(head.ms) },
    };
  },
);
