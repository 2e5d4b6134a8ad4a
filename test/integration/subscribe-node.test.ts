/**
 * cometa/client subscribe() in Node against a real hub, over each transport Node can use
 * (websocket via `ws`, sse and stream via fetch streams, longpoll via fetch): delivery, multiple
 * channels, resume after the hub drops connections, gaps, invisible stream recycling, channel
 * changes while open, and fallback when a transport cannot work.
 */
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  type SubscribeOptions,
  type SubscribeTransport,
  type SubscriptionStatus,
  subscribe,
} from '../../src/client/subscribe/index.js';
import { createHub } from '../../src/hub/index.js';
import type { Envelope, GapData } from '../../src/protocol/envelope.js';
import { cutAbruptly } from '../helpers/chaos.js';
import { publish, sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';

const TRANSPORTS: SubscribeTransport[] = ['websocket', 'sse', 'stream', 'longpoll'];
let n = 0;
const chan = (p = 'c') => `n${++n}.${p}`;

/** Subscribes and records everything. */
function record(url: string, channels: string[], o: SubscribeOptions) {
  const messages: Envelope[] = [];
  const gaps: Envelope[] = [];
  const statuses: SubscriptionStatus[] = [];
  const sub = subscribe(url, channels, {
    WebSocket: WebSocket as unknown as NonNullable<SubscribeOptions['WebSocket']>,
    // Generous on a loaded machine; the fallback tests set their own.
    openTimeout: 15_000,
    ...o,
    onMessage: (e) => messages.push(e),
    onGap: (e) => gaps.push(e),
    onStatus: (s) => statuses.push(s),
  });
  const opened = () => waitFor(() => sub.state === 'open', 20_000, 'open');
  return { sub, messages, gaps, statuses, opened };
}

for (const transport of TRANSPORTS) {
  describe(`subscribe() in Node over ${transport}`, () => {
    let t: TestHub;
    before(async () => {
      t = await startHub({
        heartbeatMs: 200,
        streamMaxBytes: 1024,
        retentionRules: [{ pattern: 'small.**', maxMessages: 3 }],
      });
    });
    after(() => t.close());

    it('receives messages of several channels, in order, with status events', async () => {
      const a = chan('a');
      const b = chan('b');
      const r = record(t.url, [a, b], { transports: [transport] });
      await r.opened();
      assert.equal(r.sub.transport, transport);
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push(await publish(t.url, i % 2 ? a : b, i));
      await waitFor(() => r.messages.length >= 10, 10_000, '10 messages');
      assert.deepEqual(
        r.messages.map((e) => e.id),
        ids,
      );
      assert.equal(r.sub.cursor, ids.at(-1));
      r.sub.close();
      assert.deepEqual(
        r.statuses.map((s) => s.state),
        ['connecting', 'open', 'closed'],
      );
      assert.equal(r.statuses.at(-1)?.reason, 'closed');
    });

    it("ends with the hub's error code when refused for good (65 channels), and retries nothing", async () => {
      const errors: unknown[] = [];
      const many = Array.from({ length: 65 }, (_, k) => `${chan()}.${k}`);
      const r = record(t.url, many, { transports: [transport], onError: (e) => errors.push(e) });
      await waitFor(() => r.sub.state === 'failed', 10_000, 'failed');
      await sleep(500);
      assert.deepEqual(
        r.statuses.map((s) => [s.state, s.reason]),
        [
          ['connecting', undefined],
          ['failed', 'ERR_TOO_MANY_CHANNELS'],
        ],
      );
      assert.equal(errors.length, 1);
      assert.equal(r.statuses[1]!.error, errors[0]);
      assert.match(String(errors[0]), /HTTP 400 Bad Request ERR_TOO_MANY_CHANNELS/);
      r.sub.close(); // a no-op once failed
      assert.equal(r.statuses.length, 2);
    });

    it('resumes from its cursor when the hub drops the connection, with no loss and no duplicate', async () => {
      const c = chan();
      const r = record(t.url, [c], { transports: [transport], minDelay: 50 });
      await r.opened();
      const ids: string[] = [];
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 5; i++) ids.push(await publish(t.url, c, `${round}.${i}`));
        for (const s of [...t.hub.core.subscribers]) if (s.channels.includes(c)) s.end('kicked');
        for (let i = 0; i < 5; i++) ids.push(await publish(t.url, c, `${round}.k${i}`));
        await sleep(30);
      }
      await waitFor(() => r.messages.length >= ids.length, 8000, `${ids.length} messages`);
      await sleep(200);
      r.sub.close();
      assert.deepEqual(
        r.messages.map((e) => e.id),
        ids,
      );
      assert.equal(r.gaps.length, 0);
      if (transport !== 'longpoll') {
        assert.ok(
          r.statuses.some((s) => s.state === 'reconnecting' && s.reason === 'kicked'),
          JSON.stringify(r.statuses),
        );
      }
    });

    it('surfaces a gap when history was trimmed, then delivers what is retained', async () => {
      const c = `small.${chan()}`;
      const first = await publish(t.url, c, 0);
      for (let i = 1; i < 8; i++) await publish(t.url, c, i);
      const r = record(t.url, [c], { transports: [transport], since: first });
      await waitFor(() => r.messages.length >= 3, 10_000, 'retained messages');
      r.sub.close();
      assert.equal(r.gaps.length, 1);
      const gap = r.gaps[0]!.data as GapData;
      assert.equal(gap.reason, 'trimmed');
      assert.equal(gap.since, first);
      assert.equal(gap.next, r.messages[0]!.id);
      assert.deepEqual(
        r.messages.map((e) => e.data),
        [5, 6, 7],
      );
    });

    it('starts with the last N messages with `last`', async () => {
      const c = chan();
      for (let i = 0; i < 5; i++) await publish(t.url, c, i);
      const r = record(t.url, [c], { transports: [transport], last: 2 });
      await r.opened();
      await waitFor(() => r.messages.length >= 2, 10_000, 'last 2');
      await publish(t.url, c, 5);
      await waitFor(() => r.messages.length >= 3, 10_000, 'live message');
      await sleep(100);
      r.sub.close();
      assert.deepEqual(
        r.messages.map((e) => e.data),
        [3, 4, 5],
      );
    });

    it('after a `last` start with nothing to replay, a reconnect misses nothing published meanwhile', async () => {
      const c = chan();
      const r = record(t.url, [c], { transports: [transport], last: 2, minDelay: 400 });
      await r.opened();
      // Cut with no close frame (which would carry a cursor).
      for (const s of [...t.hub.core.subscribers]) if (s.channels.includes(c)) cutAbruptly(s);
      // Published while disconnected: more than `last`, all must arrive.
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await t.hub.publish(c, i));
      await waitFor(() => r.messages.length >= 5, 10_000, '5 messages');
      await sleep(100);
      r.sub.close();
      assert.deepEqual(
        r.messages.map((e) => e.id),
        ids,
      );
    });

    it('changes channels while open without losing messages', async () => {
      const a = chan('a');
      const b = chan('b');
      const r = record(t.url, [a], { transports: [transport] });
      await r.opened();
      await publish(t.url, a, 'a1');
      await waitFor(() => r.messages.length >= 1, 10_000, 'a1');
      r.sub.channels = [a, b];
      assert.deepEqual(r.sub.channels, [a, b]);
      await publish(t.url, b, 'b1');
      await publish(t.url, a, 'a2');
      await waitFor(() => r.messages.length >= 3, 10_000, 'b1 and a2');
      r.sub.setChannels([b]);
      await publish(t.url, a, 'a3');
      await publish(t.url, b, 'b2');
      await waitFor(() => r.messages.length >= 4, 10_000, 'b2');
      await sleep(100);
      r.sub.close();
      assert.deepEqual(
        r.messages.map((e) => e.data),
        ['a1', 'b1', 'a2', 'b2'],
      );
    });
  });
}

describe('subscribe() stream recycling and fallback', () => {
  it('resumes invisibly when the hub recycles a stream after streamMaxBytes', async () => {
    const t = await startHub({ streamMaxBytes: 1024 });
    try {
      const c = chan();
      const r = record(t.url, [c], { transports: ['stream'] });
      await r.opened();
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) ids.push(await publish(t.url, c, { i, pad: 'x'.repeat(60) }));
      await waitFor(() => r.messages.length >= 60, 8000, '60 messages');
      r.sub.close();
      assert.deepEqual(
        r.messages.map((e) => e.id),
        ids,
      );
      // 60 messages of ~150 bytes through 1 KiB streams: several recycles, none visible.
      assert.deepEqual(
        r.statuses.map((s) => s.state),
        ['connecting', 'open', 'closed'],
      );
    } finally {
      await t.close();
    }
  });

  it('falls back to the next transport when the WebSocket upgrade is refused', async () => {
    // The hub mounted on a server with no upgrade handler (like a proxy that does not pass
    // upgrades): Node answers the upgrade as a plain request, so the WebSocket never opens.
    const hub = createHub({ store: 'memory', logger: false });
    await hub.ready;
    const server = createServer(hub.handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const c = chan();
      const started = Date.now();
      const r = record(url, [c], { transports: ['websocket', 'sse', 'longpoll'], openTimeout: 1000 });
      await r.opened();
      assert.equal(r.sub.transport, 'sse');
      assert.ok(Date.now() - started < 6000, `fell back in ${Date.now() - started} ms`);
      assert.deepEqual(
        r.statuses.map((s) => [s.state, s.transport, s.reason]),
        [
          ['connecting', 'websocket', undefined],
          ['reconnecting', 'sse', 'failed'],
          ['open', 'sse', undefined],
        ],
      );
      const id = await publish(url, c, 'hello');
      await waitFor(() => r.messages.length >= 1, 10_000, 'message');
      assert.equal(r.messages[0]!.id, id);
      r.sub.close();
      // The next subscription to this hub starts with what worked.
      const r2 = record(url, [c], { transports: ['websocket', 'sse', 'longpoll'] });
      await r2.opened();
      assert.equal(r2.statuses[0]!.transport, 'sse');
      r2.sub.close();
    } finally {
      await hub.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('falls back from streams to long-poll behind a proxy that buffers responses', async () => {
    const t = await startHub();
    // A proxy that holds every response body until it ends: streams never show a byte.
    const proxy = createServer((req, res) => {
      const up = request(`${t.url}${req.url}`, { method: req.method, headers: req.headers }, (ur) => {
        const chunks: Buffer[] = [];
        ur.on('data', (d: Buffer) => chunks.push(d));
        ur.on('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(ur.statusCode ?? 502, {
            'content-type': ur.headers['content-type'] ?? 'text/plain',
            'content-length': body.length,
          });
          res.end(body);
        });
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const c = chan();
      const started = Date.now();
      const r = record(url, [c], { transports: ['sse', 'stream', 'longpoll'], openTimeout: 800 });
      await r.opened();
      assert.equal(r.sub.transport, 'longpoll');
      assert.ok(Date.now() - started < 8000, `fell back in ${Date.now() - started} ms`);
      assert.deepEqual(
        r.statuses.map((s) => s.transport),
        ['sse', 'stream', 'longpoll', 'longpoll'],
      );
      const id = await publish(t.url, c, 'through the proxy');
      await waitFor(() => r.messages.length >= 1, 10_000, 'message');
      assert.equal(r.messages[0]!.id, id);
      r.sub.close();
    } finally {
      proxy.closeAllConnections();
      proxy.close();
      await t.close();
    }
  });

  it('validates its arguments with ERR_BAD_OPTION', () => {
    assert.throws(() => subscribe('http://x', [] as string[]), { code: 'ERR_BAD_OPTION' });
    assert.throws(() => subscribe('http://x', ['bad..name']), { code: 'ERR_BAD_OPTION' });
    assert.throws(() => subscribe('http://x', ['a'], { transports: ['pigeon' as SubscribeTransport] }), {
      code: 'ERR_BAD_OPTION',
    });
  });

  it('sends deleted events to onDeleted, never to onMessage, and closes on its AbortSignal', async () => {
    const t = await startHub();
    try {
      const c = chan();
      const deleted: Envelope[] = [];
      const ac = new AbortController();
      const r = record(t.url, [c], {
        transports: ['websocket'],
        signal: ac.signal,
        onDeleted: (e) => deleted.push(e),
      });
      await r.opened();
      const id = await publish(t.url, c, 'kept');
      const res = await fetch(`${t.url}/pub/${c}`, { method: 'DELETE' });
      assert.equal(res.status, 200);
      await waitFor(() => deleted.length === 1, 10_000, 'deleted event');
      assert.deepEqual(
        r.messages.map((e) => e.id),
        [id],
      );
      assert.deepEqual(deleted[0]!.data, { channel: c });
      assert.equal(r.sub.cursor, id);
      ac.abort();
      assert.equal(r.sub.state, 'closed');
      assert.equal(r.statuses.at(-1)?.reason, 'aborted');
    } finally {
      await t.close();
    }
  });
});
