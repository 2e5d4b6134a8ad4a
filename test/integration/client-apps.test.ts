/**
 * cometa/client subscribe() in Node against a real hub for what apps build on: wildcard channel
 * patterns (with resume across the pattern), presence (`presence: true`, `onPresence`,
 * `sub.presence()`), and a publish sent twice with one Idempotency-Key.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { post } from '../../src/client/index.js';
import { type SubscribeOptions, subscribe } from '../../src/client/subscribe/index.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { publish, startHub, type TestHub, waitFor } from '../helpers/hub.js';

const WS = WebSocket as unknown as NonNullable<SubscribeOptions['WebSocket']>;

describe('cometa/client: wildcards, presence, idempotent retries', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({
      channels: [{ pattern: 'room.*', presence: 'anonymous' }],
      presence: { coalesceMs: 100 },
    });
  });
  after(() => t.close());

  for (const transport of ['websocket', 'sse', 'longpoll'] as const) {
    it(`${transport}: a pattern subscription, resumed across the pattern after close`, async () => {
      const got: Envelope[] = [];
      const o = { WebSocket: WS, transports: [transport], openTimeout: 15_000 };
      const sub = subscribe(t.url, [`q${transport}.*`], { ...o, onMessage: (e) => got.push(e) });
      await waitFor(() => sub.state === 'open', 10_000, 'open');
      await publish(t.url, `q${transport}.a`, 1);
      await waitFor(() => got.length === 1, 10_000, 'first');
      const cursor = sub.cursor;
      sub.close();
      const missed = [await publish(t.url, `q${transport}.b`, 2), await publish(t.url, `q${transport}.c`, 3)];
      const again: Envelope[] = [];
      const resumed = subscribe(t.url, [`q${transport}.*`], {
        ...o,
        ...(cursor === undefined ? {} : { since: cursor }),
        onMessage: (e) => again.push(e),
      });
      await waitFor(() => again.length === 2, 10_000, 'resumed');
      resumed.close();
      assert.deepEqual(
        again.map((e) => e.id),
        missed,
      );
    });
  }

  it('presence: onPresence gets join and leave, onMessage does not; sub.presence() the members', async () => {
    const presence: string[] = [];
    const messages: Envelope[] = [];
    const sub = subscribe(t.url, ['room.1'], {
      WebSocket: WS,
      presence: true,
      onPresence: (e) => presence.push(`${e.event}:${(e.data as { member: string }).member}`),
      onMessage: (e) => messages.push(e),
    });
    await waitFor(() => sub.state === 'open', 10_000, 'open');
    // A member without a token names itself on an anonymous presence channel (option member).
    const member = subscribe(t.url, ['room.1'], { transports: ['sse'], member: 'ann' });
    await waitFor(() => presence.length === 1, 10_000, 'join');
    const snap = await sub.presence('room.1');
    assert.deepEqual(snap.members, [{ member: 'ann', anonymous: true }]);
    member.close();
    await waitFor(() => presence.length === 2, 10_000, 'leave');
    assert.deepEqual(presence, ['join:ann', 'leave:ann']);
    assert.equal(messages.length, 0);
    sub.close();
  });

  it('a retried publish whose first answer was lost is stored once (same Idempotency-Key)', async () => {
    // A proxy in front of the hub that forwards the first request but cuts the connection instead
    // of passing its answer back: the hub stored the message, the client sees a network error.
    let first = true;
    const sockets = new Set<import('node:net').Socket>();
    const proxy: Server = createServer((client) => {
      sockets.add(client);
      const cut = first;
      first = false;
      const upstream = connect(t.port, '127.0.0.1');
      sockets.add(upstream);
      client.pipe(upstream);
      upstream.on('data', (d) => {
        if (cut) client.destroy();
        else client.write(d);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as { port: number }).port;
    try {
      const res = await post(
        `http://127.0.0.1:${port}/pub/retried`,
        { n: 1 },
        {
          headers: { 'Idempotency-Key': `k-${Date.now()}` },
          retry: { limit: 2, methods: ['POST'], delay: 10 },
        },
      );
      assert.equal(res.status, 202);
      assert.equal(res.headers.get('idempotent-replayed'), 'true', 'the retry was answered from the key');
      const info = (await (await fetch(`${t.url}/pub/retried`)).json()) as { stored: number };
      assert.equal(info.stored, 1);
    } finally {
      proxy.close();
      for (const socket of sockets) socket.destroy();
    }
  });

  it('post() sent again with the same Idempotency-Key (what a retry sends): stored once', async () => {
    const key = `k-${Date.now()}`;
    const first = await post(`${t.url}/pub/orders`, { n: 1 }, { headers: { 'Idempotency-Key': key } });
    const retry = await post(`${t.url}/pub/orders`, { n: 1 }, { headers: { 'Idempotency-Key': key } });
    assert.equal((retry.data as { id: string }).id, (first.data as { id: string }).id);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    const info = (await (await fetch(`${t.url}/pub/orders`)).json()) as { stored: number };
    assert.equal(info.stored, 1);
  });
});
