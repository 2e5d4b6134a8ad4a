/**
 * Pipelined requests (RFC 9112 §9.3) on Node's path and through the lane's handover, with raw
 * sockets: answers come in request order, and a publish is answered before anything pipelined
 * after it is processed (a poll behind it sees it; a refusal or a 101 behind it goes after its 202).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startHub, type TestHub, waitFor } from '../helpers/hub.js';
import { answers, client, exchange } from '../helpers/raw-http.js';

const hubs: Record<string, TestHub> = {};
before(async () => {
  hubs.node = await startHub({ fastPublish: false, fastPoll: false });
  hubs.lane = await startHub();
});
after(async () => {
  for (const t of Object.values(hubs)) await t.close();
});

const publishReq = (channel: string, body: string, extra = '') =>
  `POST /pub/${channel} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/** Status lines in the order the hub wrote them. */
const statusOrder = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

for (const [name, origin] of [
  ['Node path', 'node'],
  // A header outside the lane's allowlists makes it hand the connection to Node with every byte.
  ['handed over by the lane', 'lane'],
] as const) {
  describe(`pipelining: ${name}`, () => {
    const extra = origin === 'lane' ? 'X-Pipelined: 1\r\n' : '';

    it('a malformed request behind a publish is refused after the 202, and the message is stored once', async () => {
      const t = hubs[origin]!;
      const ch = `pl.bad.${origin}`;
      const text = await exchange(t.port, [`${publishReq(ch, '{"n":1}', extra)}BLAH\r\n\r\n`]);
      assert.deepEqual(statusOrder(text), [202, 400], text);
      const [first, second] = answers(text);
      assert.match(first!.body, /"id"/);
      assert.equal(JSON.parse(second!.body).error.code, 'ERR_BAD_REQUEST');
      const info = (await (await fetch(`${t.url}/pub/${ch}`)).json()) as { stored: number };
      assert.equal(info.stored, 1);
    });

    it('a poll pipelined behind a publish sees it', async () => {
      const t = hubs[origin]!;
      for (let i = 0; i < 5; i++) {
        const ch = `pl.poll.${origin}.${i}`;
        const text = await exchange(t.port, [
          `${publishReq(ch, `{"n":${i}}`, extra)}GET /sub/${ch}?mode=poll&last=1 HTTP/1.1\r\nHost: x\r\n${extra}\r\n`,
        ]);
        const [pub, poll] = answers(text);
        assert.equal(pub!.status, 202, text);
        assert.equal(poll!.status, 200, text);
        const id = JSON.parse(pub!.body).id as string;
        const polled = JSON.parse(poll!.body) as { messages: Array<{ id: string }>; cursor: string };
        assert.deepEqual(
          polled.messages.map((m) => m.id),
          [id],
          'the poll ran before the publish was stored',
        );
      }
    });

    it('a WebSocket upgrade pipelined behind a publish gets its 101 after the 202', async () => {
      const t = hubs[origin]!;
      const ch = `pl.ws.${origin}`;
      const key = Buffer.from('0123456789abcdef').toString('base64');
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const c = client(t.port);
      c.socket.write(
        `${publishReq(ch, '{"n":1}', extra)}GET /sub/${ch} HTTP/1.1\r\nHost: x\r\n${extra}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      try {
        await waitFor(() => c.text().includes('"event":"open"'), 10_000, 'the WebSocket open frame');
        const text = c.text();
        assert.deepEqual(statusOrder(text), [202, 101], text);
        assert.ok(text.includes(`Sec-WebSocket-Accept: ${accept}`), text);
      } finally {
        c.socket.destroy();
      }
    });

    it('a publish pipelined behind a held long-poll still runs and wakes it; answers stay in order', async () => {
      const t = hubs[origin]!;
      const ch = `pl.held.${origin}`;
      const text = await exchange(t.port, [
        `GET /sub/${ch}?timeout=10 HTTP/1.1\r\nHost: x\r\n${extra}\r\n${publishReq(ch, '"w"', extra)}`,
      ]);
      const [poll, pub] = answers(text);
      assert.equal(poll!.status, 200, text);
      assert.equal(pub!.status, 202, text);
      const id = JSON.parse(pub!.body).id as string;
      assert.equal((JSON.parse(poll!.body) as { cursor: string }).cursor, id);
    });
  });
}

describe('HTTP/2 (the handler on a node:http2 server)', () => {
  it('streams of one connection are not held behind each other', async () => {
    const { createServer } = await import('node:http2');
    const { connect } = await import('node:http2');
    const { createHub } = await import('../../src/hub/index.js');
    const hub = createHub({ store: 'memory', logger: false });
    await hub.ready;
    const server = createServer((req, res) => hub.handler(req as never, res as never));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as import('node:net').AddressInfo).port;
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      // A publish whose body has not all arrived yet...
      const pub = session.request({ ':method': 'POST', ':path': '/pub/h2.a', 'content-type': 'text/plain' });
      pub.write('part');
      await sleepMs(100);
      // ...does not hold a poll on another stream of the same connection.
      const poll = session.request({ ':path': '/sub/h2.b?mode=poll' });
      const status = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the poll waited behind the publish')), 3000);
        poll.on('response', (h) => {
          clearTimeout(timer);
          resolve(Number(h[':status']));
        });
      });
      poll.resume();
      assert.equal(status, 200);
      pub.end('!');
      const pubStatus = await new Promise<number>((resolve) =>
        pub.on('response', (h) => resolve(Number(h[':status']))),
      );
      pub.resume();
      assert.equal(pubStatus, 202);
    } finally {
      session.destroy();
      await hub.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

const sleepMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
