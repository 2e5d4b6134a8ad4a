/**
 * The bytes on the wire, read with raw sockets (where chunk boundaries and framing matter), and
 * real clients: the `eventsource` package (a WHATWG EventSource) reconnecting by itself with
 * Last-Event-ID, and the `cometa` CLI.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { publish, sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';

let t: TestHub;
before(async () => {
  t = await startHub({ heartbeatMs: 200 });
});
after(() => t.close());

/** Waits until the hub has a subscriber on `channel` (a fixed sleep is not enough under load). */
const subscribed = (channel: string) =>
  waitFor(() => t.hub.core.subscriberCount(channel) > 0, 10_000, `a subscriber on ${channel}`);

/** Sends a raw request and collects everything the hub writes until `until` says stop. */
function raw(request: string, until: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(t.port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw read timed out; got: ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      if (until(text)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
    socket.write(request);
  });
}

describe('wire format', () => {
  it('SSE: headers, retry, open frame, message frames and heartbeats, close-delimited', async () => {
    const reading = raw(
      'GET /sub/wire.sse HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n',
      (s) => s.includes('"w2"') && /\n:\n\n[\s\S]*$/.test(s.slice(s.indexOf('"w2"'))),
    );
    await subscribed('wire.sse');
    const id1 = await publish(t.url, 'wire.sse', 'w1', 'goal');
    const id2 = await publish(t.url, 'wire.sse', 'w2');
    const text = await reading;
    const [head, body] = text.split('\r\n\r\n', 2) as [string, string];
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(head, /\r\ncontent-type: text\/event-stream; charset=utf-8/i);
    assert.match(head, /\r\ncache-control: no-cache, no-transform/i);
    assert.match(head, /\r\nx-accel-buffering: no/i);
    assert.doesNotMatch(
      head,
      /transfer-encoding|content-length/i,
      'SSE is close-delimited: no chunk framing',
    );
    assert.match(body, /^retry: 2000\nid: [a-z0-9]+-\d+\nevent: cometa\.open\ndata: \{"event":"open",/);
    const frame1 = `id: ${id1}\nevent: goal\ndata: {"id":"${id1}","channel":"wire.sse","event":"goal","data":"w1","time":`;
    assert.ok(body.includes(frame1), body);
    assert.ok(body.includes(`id: ${id2}\nevent: message\ndata: {"id":"${id2}"`));
  });

  it('NDJSON stream: chunked, one JSON object per chunk line, empty-line heartbeats', async () => {
    const reading = raw('GET /sub/wire.nd?transport=stream HTTP/1.1\r\nHost: x\r\n\r\n', (s) => {
      const at = s.indexOf('"n1"');
      return at !== -1 && /\r\n1\r\n\n\r\n/.test(s.slice(at));
    });
    await subscribed('wire.nd');
    const id = await publish(t.url, 'wire.nd', 'n1');
    const text = await reading;
    const [head, body] = text.split('\r\n\r\n', 2) as [string, string];
    assert.match(head, /\r\ntransfer-encoding: chunked/i);
    assert.match(head, /\r\ncontent-type: application\/x-ndjson/i);
    // Every chunk is exactly one line, so a reader at readyState 3 never sees half a line per chunk.
    const chunks: string[] = [];
    let rest = text.slice(head.length + 4);
    while (rest.length > 0) {
      const m = /^([0-9a-f]+)\r\n/.exec(rest);
      assert.ok(m, `chunk header expected at ${JSON.stringify(rest.slice(0, 20))}`);
      const size = Number.parseInt(m[1]!, 16);
      const payload = rest.slice(m[0].length, m[0].length + size);
      if (payload.length < size) break;
      chunks.push(payload);
      rest = rest.slice(m[0].length + size + 2);
    }
    assert.ok(chunks.every((c) => c.endsWith('\n') && c.indexOf('\n') === c.length - 1));
    assert.equal(JSON.parse(chunks[0]!).event, 'open');
    const env = JSON.parse(chunks.find((c) => c.includes('"n1"'))!);
    assert.equal(env.id, id);
    assert.ok(chunks.includes('\n'), 'heartbeat line');
    assert.ok(body.length > 0);
  });

  it('long-poll: a held request is answered with Content-Length JSON and the cursor', async () => {
    const reading = raw('GET /sub/wire.lp HTTP/1.1\r\nHost: x\r\n\r\n', (s) => s.includes('"cursor"'));
    await subscribed('wire.lp');
    const id = await publish(t.url, 'wire.lp', { n: 1 });
    const text = await reading;
    const [head, body] = text.split('\r\n\r\n', 2) as [string, string];
    assert.match(head, /\r\ncontent-length: \d+/i);
    const answer = JSON.parse(body);
    assert.equal(answer.cursor, id);
    assert.equal(answer.messages[0].id, id);
  });
});

describe('a real EventSource', () => {
  it('receives named events and resumes with Last-Event-ID after the hub drops it', async () => {
    const es = new EventSource(`${t.url}/sub/wire.es`);
    const got: Array<{ type: string; id: string; data: string }> = [];
    for (const type of ['message', 'score', 'cometa.open']) {
      es.addEventListener(type, (e) => got.push({ type, id: e.lastEventId, data: e.data }));
    }
    try {
      await waitFor(() => got.some((g) => g.type === 'cometa.open'), 3000, 'open');
      await publish(t.url, 'wire.es', 1, 'score');
      await waitFor(() => got.filter((g) => g.type === 'score').length === 1, 3000, 'first');
      // Drop every subscriber from the hub side, publish while the client is away.
      for (const sub of [...t.hub.core.subscribers]) sub.end('kicked');
      const missed = await publish(t.url, 'wire.es', 2, 'score');
      await waitFor(() => got.filter((g) => g.type === 'score').length === 2, 6000, 'resumed message');
      const scores = got.filter((g) => g.type === 'score');
      assert.deepEqual(
        scores.map((s) => JSON.parse(s.data).data),
        [1, 2],
      );
      assert.equal(scores[1]!.id, missed);
    } finally {
      es.close();
    }
  });
});

describe('the cometa CLI', () => {
  it('publishes and subscribes (NDJSON out), resuming from --since', async () => {
    const cli = (args: string[]) =>
      spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const first = await publish(t.url, 'wire.cli', 'before');
    const sub = cli(['subscribe', t.url, 'wire.cli', '--transport', 'stream', '--since', first]);
    let out = '';
    sub.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    try {
      await sleep(1500);
      const pub = cli(['publish', t.url, 'wire.cli', '{"x":1}', '--event', 'note']);
      let id = '';
      pub.stdout.setEncoding('utf8').on('data', (d: string) => {
        id += d;
      });
      await new Promise((r) => pub.once('exit', r));
      assert.match(id.trim(), /^[a-z0-9]+-\d+$/);
      await waitFor(() => out.includes(id.trim()), 8000, 'the CLI subscriber to print the message');
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        lines.map((l) => l.data),
        [{ x: 1 }],
      );
      assert.equal(lines[0].event, 'note');
    } finally {
      sub.kill();
    }
  });
});
