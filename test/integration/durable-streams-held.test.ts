/**
 * What a Durable Streams reader can make the hub hold: held reads (long-poll, SSE) count against
 * `limits.maxConnectionsPerIp` on `hub.listen()`'s server and on one the hub is mounted in, and give
 * their slot back when the client goes; an SSE reader that stops reading is cut off once its answer's
 * time (`streams.sseMaxSeconds`) is up instead of holding its connection and a page of data, and a
 * catch-up answer nobody reads is cut once `streams.longPollTimeout` passes without progress.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { connectionCounts } from '../../src/hub/http/limits.js';
import { createHub, type Hub } from '../../src/hub/index.js';
import { sleep, startHub, waitFor } from '../helpers/hub.js';

/** A GET whose answer is not awaited: its status once the head arrives, and a way to abort it. */
function hold(port: number, path: string) {
  const req = request({ host: '127.0.0.1', port, path, agent: false });
  const status = new Promise<number>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
  });
  req.end();
  return { status, abort: () => req.destroy() };
}

/**
 * One request on a connection of its own that closes after the answer (fetch would keep its
 * connection open, and an open connection counts against the limits under test).
 */
function call(
  port: number,
  method: string,
  path: string,
  type?: string,
  body?: Buffer | string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Connection: 'close' };
    if (type !== undefined) headers['Content-Type'] = type;
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function served(hub: Hub, port: number): Promise<void> {
  const put = await call(port, 'PUT', '/v1/stream/held', 'text/plain', 'x');
  assert.equal(put.status, 201);
  const tail = String(put.headers['stream-next-offset']);
  await waitFor(() => connectionCounts(hub.core).total === 0, 5000, 'the PUT connection closed');
  for (const live of ['long-poll', 'sse']) {
    const held = Array.from({ length: 3 }, () => hold(port, `/v1/stream/held?offset=${tail}&live=${live}`));
    await waitFor(() => connectionCounts(hub.core).total === 3, 5000, `three ${live} reads counted`);
    const extra = await call(port, 'GET', `/v1/stream/held?offset=${tail}&live=${live}`);
    assert.equal(extra.status, 503, live);
    assert.equal(
      (JSON.parse(extra.body) as { error: { code: string } }).error.code,
      'ERR_TOO_MANY_CONNECTIONS',
    );
    for (const h of held) h.abort();
    await waitFor(() => connectionCounts(hub.core).total === 0, 5000, `${live} slots given back on abort`);
  }
}

describe('Durable Streams held reads', () => {
  const limits = { maxConnectionsPerIp: 3 };

  test("long-poll and SSE reads count against limits.maxConnectionsPerIp on hub.listen()'s server", async () => {
    const t = await startHub({ limits, streams: { longPollTimeout: 30 } });
    try {
      await served(t.hub, t.port);
    } finally {
      await t.close();
    }
  });

  test('and with hub.handler mounted in a server of its own', async () => {
    const hub = createHub({ store: 'memory', logger: false, limits, streams: { longPollTimeout: 30 } });
    const server = createServer((req, res) => hub.handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await hub.ready;
      await served(hub, (server.address() as AddressInfo).port);
    } finally {
      server.closeAllConnections();
      server.close();
      await hub.close();
    }
  });

  test('an SSE reader that stops reading is cut off once streams.sseMaxSeconds is up', async () => {
    const t = await startHub({ streams: { sseMaxSeconds: 1 } });
    try {
      const path = '/v1/stream/unread';
      const put = await call(t.port, 'PUT', path, 'application/octet-stream');
      assert.equal(put.status, 201);
      // 16 MB of binary data, 21 MB as SSE's base64: more than loopback's socket buffers take in.
      const chunk = Buffer.alloc(1_000_000, 7);
      for (let i = 0; i < 16; i++) {
        const r = await call(t.port, 'POST', path, 'application/octet-stream', chunk);
        assert.equal(r.status, 204);
      }
      await waitFor(() => connectionCounts(t.hub.core).total === 0, 5000, 'the writers gone');
      const socket = connect(t.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('GET /v1/stream/unread?offset=-1&live=sse HTTP/1.1\r\nHost: h\r\n\r\n');
      socket.pause();
      const t0 = Date.now();
      try {
        await waitFor(() => connectionCounts(t.hub.core).total === 1, 5000, 'the SSE read counted');
        await waitFor(
          () => connectionCounts(t.hub.core).total === 0,
          10_000,
          'the unread SSE answer cut off',
        );
        assert.ok(Date.now() - t0 >= 900, 'not before its time');
      } finally {
        socket.destroy();
      }
      // The hub still serves.
      await sleep(10);
      assert.equal((await call(t.port, 'GET', `${path}?offset=-1`)).status, 200);
    } finally {
      await t.close();
    }
  });

  test('a catch-up answer its client never reads is cut off after streams.longPollTimeout without progress; a slow reader keeps it', async () => {
    const t = await startHub({ streams: { longPollTimeout: 1, maxReadBytes: 32 << 20 } });
    try {
      const path = '/v1/stream/unread-page';
      assert.equal((await call(t.port, 'PUT', path, 'application/octet-stream')).status, 201);
      // One page of 24 MB: more than loopback's socket buffers take in.
      const chunk = Buffer.alloc(1_000_000, 9);
      for (let i = 0; i < 24; i++) {
        assert.equal((await call(t.port, 'POST', path, 'application/octet-stream', chunk)).status, 204);
      }
      await waitFor(() => connectionCounts(t.hub.core).total === 0, 5000, 'the writers gone');
      const socket = connect(t.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`GET ${path}?offset=-1 HTTP/1.1\r\nHost: h\r\n\r\n`);
      socket.pause();
      const t0 = Date.now();
      try {
        await waitFor(() => connectionCounts(t.hub.core).total === 1, 5000, 'the read counted');
        await waitFor(() => connectionCounts(t.hub.core).total === 0, 10_000, 'the unread answer cut off');
        assert.ok(Date.now() - t0 >= 900, 'not before its time');
      } finally {
        socket.destroy();
      }
      // A reader as slow but reading keeps its answer: 24 MB at about 4 MB a second, over several
      // of the 1 s windows.
      const slow = connect(t.port, '127.0.0.1');
      let got = 0;
      slow.on('error', () => {});
      slow.on('data', (d: Buffer) => {
        got += d.length;
        slow.pause();
        setTimeout(() => slow.resume(), Math.ceil(d.length / 4000));
      });
      slow.write(`GET ${path}?offset=-1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
      const t1 = Date.now();
      try {
        await waitFor(() => got >= 24_000_000, 30_000, 'the slow reader got its whole answer');
        assert.ok(Date.now() - t1 > 2000, `slow indeed (${Date.now() - t1} ms)`);
      } finally {
        slow.destroy();
      }
    } finally {
      await t.close();
    }
  });
});
