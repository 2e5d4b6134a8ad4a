/**
 * WebSocket judged by a client that is not ours: Python's websockets (Debian's python3-websockets;
 * scripts/system-deps.sh installs it), which checks the handshake, framing, ping/pong and the
 * closing handshake against RFC 6455 and refuses a server that answers a subprotocol it did not
 * choose.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { publish, startHub, type TestHub } from '../helpers/hub.js';

const JUDGE = fileURLToPath(new URL('../helpers/ws-judge.py', import.meta.url));

let t: TestHub;
before(async () => {
  t = await startHub({ websocket: { maxPayload: 65536 } });
});
after(() => t.close());

function runJudge(base: string): Promise<Record<string, unknown>> {
  const child = spawn('/usr/bin/python3', [JUDGE, base], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`the websockets judge exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as Record<string, unknown>);
    });
  });
}

describe("Python's websockets against the hub", () => {
  it('handshake, replay, publish command, ping/pong, closing handshake and the 1009 close', async () => {
    const seeded = await publish(t.url, 'pw.a', 'seed');
    const r = await runJudge(t.url.replace('http:', 'ws:'));
    assert.equal(r.exception, undefined, String(r.exception));
    assert.equal(r.subprotocol, null, 'the hub chose a subprotocol it does not speak');
    const [open, replayed] = r.first as Array<Record<string, unknown>>;
    assert.equal(open!.event, 'open');
    assert.equal(replayed!.id, seeded);
    const got = r.after_publish as Array<Record<string, unknown>>;
    const ack = got.find((f) => f.type === 'ack')!;
    const echo = got.find((f) => f.channel === 'pw.a')!;
    assert.equal(ack.id, 7);
    assert.equal(echo.id, ack.messageId);
    assert.deepEqual(echo.data, { from: 'py' });
    assert.equal(r.pong, true);
    assert.equal(r.close_code, 1000);
    assert.equal(r.too_big_code, 1009);
  });
});
