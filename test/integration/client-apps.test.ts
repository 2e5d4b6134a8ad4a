/**
 * cometa/client subscribe() in Node against a real hub for what apps build on: wildcard channel
 * patterns (with resume across the pattern), presence (`presence: true`, `onPresence`,
 * `sub.presence()`), and a publish sent twice with one Idempotency-Key.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { patch, post, put, request } from '../../src/client/index.js';
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

  /**
   * A proxy in front of the hub that forwards the first request but cuts the connection instead of
   * passing its answer back: the hub stored the message, the client sees a network error.
   */
  async function losingProxy(): Promise<{ url: string; close(): void }> {
    let first = true;
    const sockets = new Set<Socket>();
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
    return {
      url: `http://127.0.0.1:${port}`,
      close() {
        proxy.close();
        for (const socket of sockets) socket.destroy();
      },
    };
  }

  for (const [name, headers] of [
    ['the caller sets the Idempotency-Key', { 'Idempotency-Key': `k-${Date.now()}` }],
    ['the client adds an Idempotency-Key itself', undefined],
  ] as const) {
    it(`a retried publish whose first answer was lost is stored once (${name})`, async () => {
      const channel = `retried-${headers ? 'own' : 'auto'}`;
      const proxy = await losingProxy();
      try {
        const res = await post(
          `${proxy.url}/pub/${channel}`,
          { n: 1 },
          {
            ...(headers ? { headers } : {}),
            retry: { limit: 2, methods: ['POST'], delay: 10 },
          },
        );
        assert.equal(res.status, 202);
        assert.equal(res.headers.get('idempotent-replayed'), 'true', 'the retry was answered from the key');
        const info = (await (await fetch(`${t.url}/pub/${channel}`)).json()) as { stored: number };
        assert.equal(info.stored, 1);
      } finally {
        proxy.close();
      }
    });
  }

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

describe('cometa/client: the Idempotency-Key it adds to a POST or PATCH that may be retried', () => {
  // A server that answers 503 to the first attempt of each request (told apart by `?n=`) and 200 to
  // the next, recording the Idempotency-Key headers of every attempt.
  const seen = new Map<string, Array<string | string[] | undefined>>();
  let server: import('node:http').Server;
  let url = '';
  before(async () => {
    const { createServer: createHttp } = await import('node:http');
    server = createHttp((req, res) => {
      const n = new URL(req.url ?? '/', 'http://x').searchParams.get('n') ?? '';
      const keys = seen.get(n) ?? [];
      keys.push(req.headers['idempotency-key']);
      seen.set(n, keys);
      req.resume();
      res.writeHead(keys.length === 1 ? 503 : 200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  after(() => server.close());

  const fast = { delay: 1 };
  it('a POST retried by retry.methods: one key, the same on every attempt, a valid key for the hub', async () => {
    await post(url, { a: 1 }, { query: { n: 'post' }, retry: { ...fast, methods: ['POST'] } });
    const keys = seen.get('post')!;
    assert.equal(keys.length, 2);
    assert.match(String(keys[0]), /^[\x21-\x7e]{16,255}$/);
    assert.equal(keys[1], keys[0]);
    // A new request, a new key.
    await post(url, { a: 1 }, { query: { n: 'post2' }, retry: { ...fast, methods: ['post'] } });
    assert.notEqual(seen.get('post2')![0], keys[0]);
  });

  it('a PATCH retried by retry.methods gets one too', async () => {
    await patch(url, { a: 1 }, { query: { n: 'patch' }, retry: { ...fast, methods: ['PATCH'] } });
    const keys = seen.get('patch')!;
    assert.equal(typeof keys[0], 'string');
    assert.equal(keys[1], keys[0]);
  });

  it("the caller's own key (any case) is sent as given, on every attempt", async () => {
    await post(url, 'x', {
      query: { n: 'own' },
      headers: { 'IDEMPOTENCY-key': 'mine' },
      retry: { ...fast, methods: ['POST'] },
    });
    assert.deepEqual(seen.get('own'), ['mine', 'mine']);
  });

  it('no key where no retry of a POST or PATCH is possible (no preflight forced on other servers)', async () => {
    const opts = (n: string) => ({ query: { n }, validateStatus: () => true });
    await post(url, 'x', opts('no-retry'));
    await post(url, 'x', { ...opts('default-methods'), retry: 3 });
    await post(url, 'x', { ...opts('limit-0'), retry: { limit: 0, methods: ['POST'] } });
    await put(url, 'x', { query: { n: 'put' }, retry: { ...fast, methods: ['PUT'] } });
    await request(url, { query: { n: 'get' }, retry: { ...fast } });
    for (const n of ['no-retry', 'default-methods', 'limit-0']) assert.deepEqual(seen.get(n), [undefined], n);
    for (const n of ['put', 'get']) assert.deepEqual(seen.get(n), [undefined, undefined], n);
  });

  it('a beforeRequest hook sees the key and may remove it', async () => {
    let hooked: string | undefined;
    await post(url, 'x', {
      query: { n: 'hook' },
      retry: { ...fast, methods: ['POST'] },
      hooks: {
        beforeRequest: [
          (c) => {
            hooked = c.headers['idempotency-key'];
            delete c.headers['idempotency-key'];
          },
        ],
      },
    });
    assert.equal(typeof hooked, 'string');
    assert.deepEqual(seen.get('hook'), [undefined, undefined]);
  });
});
