/**
 * SSE and NDJSON streams hand their socket over from Node's HTTP server once the head is written
 * (src/hub/http/detach.ts): the request, the response and the parser are released, and what Node's
 * listeners did must still happen (close detection, connection limits, errors, shutdown).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connectionCounts } from '../../src/hub/http/limits.js';
import { createHub } from '../../src/hub/index.js';
import { sleep, startHub, waitFor } from '../helpers/hub.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const SSE = (channel: string) =>
  `GET /sub/${channel} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`;
const NDJSON = (channel: string) => `GET /sub/${channel}?transport=stream HTTP/1.1\r\nHost: x\r\n\r\n`;

/** A raw client; `halfOpen` keeps its side open when the hub ends (a peer that never closes). */
function open(port: number, request: string, halfOpen = false): { socket: Socket; text: () => string } {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: halfOpen });
  socket.on('error', () => {});
  socket.setEncoding('latin1');
  let text = '';
  socket.on('data', (d: string) => {
    text += d;
  });
  socket.write(request);
  return { socket, text: () => text };
}

describe('streams keep only their socket', () => {
  for (const [name, request] of [
    ['SSE', SSE],
    ['NDJSON', NDJSON],
  ] as const) {
    it(`${name}: the request, the response and the parser are released once the stream is open`, async () => {
      const t = await startHub({});
      const refs: Array<WeakRef<object>> = [];
      t.hub.server!.on('request', (req: IncomingMessage, res: ServerResponse) => {
        refs.push(new WeakRef(req), new WeakRef(res));
        // The parser is on the socket until the hub hands the socket over.
        const parser = (req.socket as Socket & { parser?: object | null }).parser;
        if (parser) refs.push(new WeakRef(parser));
      });
      const c = open(t.port, request('gone'));
      try {
        await waitFor(() => c.text().includes('"open"'), 5000, 'open frame');
        assert.equal(refs.length, 3);
        await sleep(20); // the parser is closed on the next turn
        gc();
        await sleep(0);
        gc();
        assert.deepEqual(
          refs.map((r) => r.deref() === undefined),
          [true, true, true],
          'request, response and parser collected',
        );
        // Still a working stream.
        await t.hub.publish('gone', { n: 1 });
        await waitFor(() => c.text().includes('"n":1'), 5000, 'message');
      } finally {
        c.socket.destroy();
        await t.close();
      }
    });
  }

  it('sees a peer FIN, a peer reset and pipelined bytes; releases the connection limit each time', async () => {
    const t = await startHub({ heartbeatMs: 100, limits: { maxConnectionsPerIp: 2 } });
    try {
      const core = t.hub.core;
      const a = open(t.port, SSE('c'), true);
      const b = open(t.port, NDJSON('c'));
      await waitFor(() => core.subscriberCount('c') === 2, 5000, 'two streams');
      assert.equal(connectionCounts(core).total, 2);
      // Heartbeats still flow.
      await waitFor(() => a.text().includes(':\n\n') && b.text().endsWith('1\r\n\n\r\n'), 5000, 'heartbeats');
      // FIN: the hub ends its side too (a's side stays open: it sees the hub's end).
      a.socket.end();
      await waitFor(() => core.subscriberCount('c') === 1, 5000, 'FIN seen');
      await waitFor(() => a.socket.readableEnded, 5000, 'hub ended the socket');
      await waitFor(() => connectionCounts(core).total === 1, 5000, 'limit released after FIN');
      // Reset.
      b.socket.resetAndDestroy();
      await waitFor(() => core.subscriberCount('c') === 0, 5000, 'reset seen');
      await waitFor(() => connectionCounts(core).total === 0, 5000, 'limit released after reset');
      // Bytes sent once the stream is open are read and dropped (no parser any more); the close is
      // still seen.
      const p = open(t.port, SSE('c'));
      await waitFor(() => core.subscriberCount('c') === 1, 5000, 'third stream');
      await waitFor(() => p.text().includes('"open"'), 5000, 'open frame');
      p.socket.write('garbage that is not HTTP\r\n\r\n');
      p.socket.write(`${SSE('c')}${'x'.repeat(100_000)}`);
      await sleep(100);
      assert.equal(core.subscriberCount('c'), 1);
      assert.ok(!p.socket.destroyed && !p.text().includes('HTTP/1.1 400'));
      p.socket.destroy();
      await waitFor(() => core.subscriberCount('c') === 0, 5000, 'close after garbage');
      await waitFor(() => connectionCounts(core).total === 0, 5000, 'limit released');
    } finally {
      await t.close();
    }
  });

  it('a request pipelined behind a stream in the same packet is released with the connection', async () => {
    // Counted per request, as a hub mounted in another server counts (behind hub.listen()'s lane a
    // connection counts once, as a whole).
    const t = await startHub({ fastPublish: false, fastPoll: false, limits: { maxConnectionsPerIp: 4 } });
    try {
      const core = t.hub.core;
      for (const request of [SSE('p'), NDJSON('p')]) {
        // Never answered (the stream before it never ends), so its response never closes.
        const c = open(t.port, `${request}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
        await waitFor(() => core.subscriberCount('p') === 1, 5000, 'stream open');
        await waitFor(() => connectionCounts(core).total === 2, 5000, 'both requests counted');
        c.socket.destroy();
        await waitFor(() => connectionCounts(core).total === 0, 5000, 'both released on close');
      }
    } finally {
      await t.close();
    }
  });

  it('hub.close() ends streams whose peer never closes, and does not wait for them', async () => {
    const t = await startHub({});
    const a = open(t.port, SSE('h'), true);
    const b = open(t.port, NDJSON('h'), true);
    await waitFor(() => t.hub.core.subscriberCount('h') === 2, 5000, 'two streams');
    const started = Date.now();
    await t.close();
    assert.ok(Date.now() - started < 2000, 'close did not wait for half-open peers');
    await waitFor(() => a.socket.destroyed || a.socket.readableEnded, 2000, 'a ended');
    assert.match(a.text(), /event: close\ndata: \{[^\n]*"reason":"shutdown"/);
    assert.match(b.text(), /"reason":"shutdown"/);
    a.socket.destroy();
    b.socket.destroy();
  });

  it('works the same mounted on an app server (hub.handler), where hub.close() cuts the streams it ended', async () => {
    const hub = createHub({ store: 'memory', logger: false });
    await hub.ready;
    const server = createServer((req, res) => hub.handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const a = open(port, SSE('m'), true);
    try {
      await waitFor(() => hub.core.subscriberCount('m') === 1, 5000, 'stream');
      await hub.publish('m', { x: 1 });
      await waitFor(() => a.text().includes('"x":1'), 5000, 'message');
      await hub.close();
      await waitFor(() => a.socket.destroyed || a.socket.readableEnded, 2000, 'cut');
      await new Promise<void>((r) => server.close(() => r()));
    } finally {
      a.socket.destroy();
      server.closeAllConnections();
    }
  });
});
