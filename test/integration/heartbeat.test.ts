/**
 * Heartbeats are spread over the interval (src/hub/core.ts, heartbeat slots): a stream hears from
 * the hub every heartbeatMs, but the streams of a hub do not all get theirs in the same sweep.
 * Raw sockets, so each heartbeat's arrival time is seen as it is written.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sleep, startHub, type TestHub } from '../helpers/hub.js';

let t: TestHub;
before(async () => {
  // 1,000 ms heartbeats and 250 ms sweeps: four slots.
  t = await startHub({ heartbeatMs: 1000 });
});
after(() => t.close());

/** Opens an SSE stream and records when each heartbeat comment (`:\n\n`) arrives. */
function stream(channel: string): { socket: Socket; beats: number[] } {
  const beats: number[] = [];
  const socket = connect(t.port, '127.0.0.1');
  socket.setEncoding('latin1');
  socket.write(`GET /sub/${channel} HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n`);
  let text = '';
  socket.on('data', (d: string) => {
    text += d;
    let i = text.indexOf('\n:\n\n');
    while (i !== -1) {
      beats.push(performance.now());
      text = text.slice(i + 3);
      i = text.indexOf('\n:\n\n');
    }
  });
  socket.on('error', () => {});
  return { socket, beats };
}

describe('heartbeats', () => {
  it('reach every stream once per heartbeatMs, spread over the interval rather than in one burst', async () => {
    const streams = Array.from({ length: 8 }, (_, i) => stream(`hb.c${i}`));
    await sleep(3300);
    for (const s of streams) s.socket.destroy();
    for (const [i, s] of streams.entries()) {
      assert.ok(s.beats.length >= 2 && s.beats.length <= 5, `stream ${i}: ${s.beats.length} heartbeats`);
      for (let k = 1; k < s.beats.length; k++) {
        const gap = s.beats[k]! - s.beats[k - 1]!;
        assert.ok(gap > 600 && gap < 1500, `stream ${i}: ${Math.round(gap)} ms between heartbeats`);
      }
    }
    // Eight streams in four slots: their first heartbeats fall in four different sweeps, 250 ms
    // apart, where a single global beat would have sent all eight within a few milliseconds.
    const firsts = streams.map((s) => s.beats[0]!).sort((a, b) => a - b);
    assert.ok(
      firsts[7]! - firsts[0]! > 500,
      `first heartbeats span ${Math.round(firsts[7]! - firsts[0]!)} ms`,
    );
    const sweeps = new Set(firsts.map((f) => Math.round((f - firsts[0]!) / 250)));
    assert.ok(sweeps.size >= 3, `first heartbeats in ${sweeps.size} sweeps`);
  });
});
