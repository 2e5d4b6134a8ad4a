/**
 * Connections read into one shared buffer (src/hub/http/shared-read.ts): an adopted socket reads
 * into it, writes, ends and closes as Node's own, keeps the server's connection count and its
 * TCP_NODELAY record, and once released reads as any socket (flow control included). Real servers
 * and sockets on loopback.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import {
  adopt,
  isShared,
  type OnRead,
  pauseAccepted,
  pushRead,
  release,
} from '../../src/hub/http/shared-read.js';
import { waitFor } from '../helpers/hub.js';

function symbolOf(socket: Socket, name: string): unknown {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === name);
  return key === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[key];
}

interface Setup {
  server: Server;
  port: number;
  accepted: Socket[];
  reads: Array<{ text: string; shared: boolean }>;
}

/** A server whose connections are adopted; `released` sockets push their reads into their stream. */
async function setup(onAccept?: (socket: Socket) => void): Promise<Setup> {
  const s: Setup = {
    server: createServer({ allowHalfOpen: true, noDelay: true }),
    port: 0,
    accepted: [],
    reads: [],
  };
  const released = new WeakSet<Socket>();
  const onRead: OnRead = function (n, shared) {
    if (released.has(this)) return pushRead(this, n, shared);
    s.reads.push({ text: shared.toString('latin1', 0, n), shared: isShared(shared) });
    if (shared.toString('latin1', 0, n).includes('release')) {
      release(this, onRead);
      released.add(this);
    }
    return true;
  };
  pauseAccepted(s.server);
  s.server.on('connection', (c: Socket) => {
    onAccept?.(c);
    const socket = adopt(c, onRead);
    s.accepted.push(socket);
    socket.on('error', () => {});
  });
  s.server.listen(0, '127.0.0.1');
  await once(s.server, 'listening');
  s.port = (s.server.address() as { port: number }).port;
  return s;
}

async function client(port: number): Promise<Socket> {
  const c = connect(port, '127.0.0.1');
  await once(c, 'connect');
  return c;
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

describe('shared-read: adopted connections', () => {
  it('read into the shared buffer, write, and keep the server count and TCP_NODELAY record', async () => {
    const s = await setup();
    servers.push(s.server);
    const c = await client(s.port);
    c.write('hello');
    await waitFor(() => s.reads.length === 1);
    assert.deepEqual(s.reads[0], { text: 'hello', shared: true });
    const socket = s.accepted[0]!;
    assert.equal(symbolOf(socket, 'kSetNoDelay'), true, 'the server set TCP_NODELAY as it accepted');
    const got = once(c, 'data');
    socket.write('world');
    assert.equal(String((await got)[0]), 'world');
    const count = await new Promise<number>((res, rej) =>
      s.server.getConnections((e, n) => (e ? rej(e) : res(n))),
    );
    assert.equal(count, 1, 'the adopted socket counts once');
    // A FIN reaches the adopted socket as 'end' (half-open allowed: it may still answer).
    const ended = once(socket, 'end');
    c.end();
    await ended;
    const last = once(c, 'data');
    const closed = once(socket, 'close');
    socket.end('bye');
    assert.equal(String((await last)[0]), 'bye');
    await closed;
    await waitFor(() => (s.server as unknown as { _connections: number })._connections === 0);
    // server.close() completes once the adopted connection closed (its count was moved, not lost).
    await new Promise<void>((res, rej) => s.server.close((e) => (e ? rej(e) : res())));
  });

  it('pause() stops reading and resume() starts it again', async () => {
    const s = await setup();
    servers.push(s.server);
    const c = await client(s.port);
    c.write('one');
    await waitFor(() => s.reads.length === 1);
    const socket = s.accepted[0]!;
    socket.pause();
    c.write('two');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.reads.length, 1, 'nothing read while paused');
    socket.resume();
    await waitFor(() => s.reads.length === 2);
    assert.equal(s.reads[1]!.text, 'two');
    c.destroy();
  });

  it('once released, reads as any socket: data events with copies, flow control', async () => {
    const s = await setup();
    servers.push(s.server);
    const c = await client(s.port);
    c.write('release');
    await waitFor(() => s.reads.length === 1);
    const socket = s.accepted[0]!;
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    c.write('after');
    await waitFor(() => Buffer.concat(chunks).toString() === 'after');
    assert.ok(
      chunks.every((b) => !isShared(b)),
      'pushed reads are copies',
    );
    // A paused consumer: the stream fills to its high-water mark, then reading stops.
    socket.pause();
    chunks.length = 0;
    const big = Buffer.alloc(4 * 1024 * 1024, 120);
    c.write(big);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(socket.readableLength < big.length, 'not everything read into the paused stream');
    let total = 0;
    socket.on('data', (d: Buffer) => {
      total += d.length;
    });
    socket.resume();
    await waitFor(() => total + socket.readableLength >= big.length);
    c.destroy();
  });

  it('falls back to the socket as accepted when the handle cannot read into a given buffer', async () => {
    const s = await setup((c) => {
      // What a runtime without user-buffer reads would give.
      const handle = (c as unknown as { _handle: Record<string, unknown> })._handle;
      handle.useUserBuffer = undefined;
    });
    servers.push(s.server);
    const c = await client(s.port);
    c.write('plain');
    await waitFor(() => s.reads.length === 1);
    assert.deepEqual(s.reads[0], { text: 'plain', shared: false });
    c.write('release');
    await waitFor(() => s.reads.length === 2);
    const socket = s.accepted[0]!;
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    c.write('more');
    await waitFor(() => Buffer.concat(chunks).toString() === 'more');
    assert.equal(s.reads.length, 2, 'a released socket no longer calls onRead');
    c.destroy();
  });
});
