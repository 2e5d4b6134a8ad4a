/**
 * Durable Streams SSE answers send a catch-up in bounded `data` events, and read the next slice
 * from the store only once the socket has taken the last event: a reader that stops reading makes
 * the hub hold one event unsent (plus a slice), not a whole `streams.maxReadBytes` page. A reader
 * that reads gets every byte and message, whatever the cuts.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { createHub, type Hub } from '../../src/hub/index.js';
import { sleep, waitFor } from '../helpers/hub.js';

/** One request on a connection of its own; the answer's status and body. */
function call(port: number, method: string, path: string, type?: string, body?: Buffer | string) {
  return new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const headers: Record<string, string> = { Connection: 'close' };
    if (type !== undefined) headers['Content-Type'] = type;
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The events of an SSE answer read until a control event says `upToDate`. */
function sseUntilUpToDate(port: number, path: string): Promise<{ type: string; data: string }[]> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: `${path}?offset=-1&live=sse`, agent: false },
      (res) => {
        res.setEncoding('utf8');
        let text = '';
        const events: { type: string; data: string }[] = [];
        res.on('data', (d: string) => {
          text += d;
          let end = text.indexOf('\n\n');
          while (end >= 0) {
            const block = text.slice(0, end);
            text = text.slice(end + 2);
            end = text.indexOf('\n\n');
            let type = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5));
            }
            events.push({ type, data: data.join('\n') });
            if (type === 'control' && (JSON.parse(data.join('\n')) as { upToDate?: boolean }).upToDate) {
              req.destroy();
              resolve(events);
              return;
            }
          }
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A hub mounted in a server of the test's own, so the server's side of each socket can be seen. */
async function mounted(): Promise<{ hub: Hub; port: number; sockets: Socket[]; close: () => Promise<void> }> {
  const hub = createHub({ store: 'memory', logger: false, streams: { sseMaxSeconds: 30 } });
  const sockets: Socket[] = [];
  const server = createServer((req, res) => hub.handler(req, res));
  server.on('connection', (s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await hub.ready;
  return {
    hub,
    port: (server.address() as AddressInfo).port,
    sockets,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await hub.close();
    },
  };
}

describe('Durable Streams SSE answers in bounded events', () => {
  test('SSE readers that stop reading leave at most one event unsent each in the hub', async () => {
    const t = await mounted();
    try {
      const path = '/v1/stream/stalled';
      assert.equal((await call(t.port, 'PUT', path, 'application/octet-stream')).status, 201);
      // 16 MB: more than loopback's socket buffers take in, so every reader stalls with data unsent.
      const chunk = Buffer.alloc(1_000_000, 3);
      for (let i = 0; i < 16; i++) {
        assert.equal((await call(t.port, 'POST', path, 'application/octet-stream', chunk)).status, 204);
      }
      const before = t.sockets.length;
      const readers = Array.from({ length: 8 }, () => {
        const s = connect(t.port, '127.0.0.1');
        s.on('error', () => {});
        s.write(`GET ${path}?offset=-1&live=sse HTTP/1.1\r\nHost: h\r\n\r\n`);
        s.pause();
        return s;
      });
      try {
        await waitFor(() => t.sockets.length === before + 8, 5000, 'the readers connected');
        const held = () => t.sockets.slice(before);
        // Stalled: the hub's side has bytes it cannot send, and that stays so.
        await waitFor(() => held().every((s) => s.writableLength > 0), 10_000, 'every reader stalled');
        await sleep(500);
        const unsent = held().map((s) => s.writableLength);
        const most = Math.max(...unsent);
        // One event: 48 KiB of data as base64 (64 KiB) and its SSE framing.
        assert.ok(most <= 96 * 1024, `unsent bytes per stalled reader: ${unsent.join(', ')}`);
      } finally {
        for (const s of readers) s.destroy();
      }
    } finally {
      await t.close();
    }
  });

  test('a reader gets every byte of binary and text streams and every JSON message across events', async () => {
    const t = await mounted();
    try {
      const bin = Buffer.alloc(700_001);
      for (let i = 0; i < bin.length; i++) bin[i] = (i * 7) % 256;
      assert.equal(
        (await call(t.port, 'PUT', '/v1/stream/bin', 'application/octet-stream', bin)).status,
        201,
      );
      const binEvents = await sseUntilUpToDate(t.port, '/v1/stream/bin');
      const binData = binEvents.filter((e) => e.type === 'data');
      assert.ok(binData.length > 1, 'cut into several events');
      assert.deepEqual(Buffer.concat(binData.map((e) => Buffer.from(e.data, 'base64'))), bin);

      // Multi-byte characters and CRLFs everywhere, so cuts fall next to them.
      const text = 'aé€😀\r\n'.repeat(40_000);
      assert.equal((await call(t.port, 'PUT', '/v1/stream/text', 'text/plain', text)).status, 201);
      const textData = (await sseUntilUpToDate(t.port, '/v1/stream/text')).filter((e) => e.type === 'data');
      assert.ok(textData.length > 1, 'cut into several events');
      // SSE carries line breaks as new data lines: CRLF arrives as LF.
      assert.equal(textData.map((e) => e.data).join(''), text.replaceAll('\r\n', '\n'));

      const messages = Array.from({ length: 3000 }, (_, i) => ({ i, pad: 'x'.repeat(100) }));
      const body = JSON.stringify(messages);
      assert.equal((await call(t.port, 'PUT', '/v1/stream/json', 'application/json', body)).status, 201);
      const jsonData = (await sseUntilUpToDate(t.port, '/v1/stream/json')).filter((e) => e.type === 'data');
      assert.ok(jsonData.length > 1, 'cut into several events');
      assert.deepEqual(
        jsonData.flatMap((e) => JSON.parse(e.data) as unknown[]),
        messages,
      );
    } finally {
      await t.close();
    }
  });
});
