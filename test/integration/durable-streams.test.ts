/**
 * Durable Streams with a real client (@durable-streams/client) against live hubs: create, append,
 * read, resume, live tails that lose their connection (every item exactly once), two hubs sharing
 * a Redis store, and bad input answered with the protocol's statuses and nothing stored.
 */
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DurableStream, IdempotentProducer } from '@durable-streams/client';
import type { HubOptions } from '../../src/hub/index.js';
import { sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

/**
 * Collects a JSON stream's items with the client's live tail. When a session ends with an error
 * (the client gives up on an SSE connection cut mid-body), it resumes from the offset of the last
 * batch it delivered, as an application does: the resumed session must neither repeat nor skip.
 */
async function tail(url: string, live: 'long-poll' | 'sse', offset = '-1') {
  const ds = new DurableStream({ url, contentType: 'application/json', warnOnHttp: false });
  const ac = new AbortController();
  const items: number[] = [];
  let closed = false;
  let at = offset;
  let sessions = 0;
  const run = async () => {
    while (!ac.signal.aborted && !closed) {
      sessions++;
      try {
        const res = await ds.stream<number>({ live, offset: at, signal: ac.signal, warnOnHttp: false });
        res.subscribeJson<number>((batch) => {
          for (const item of batch.items) items.push(item);
          at = batch.offset;
          if (batch.streamClosed) closed = true;
        });
        await res.closed;
      } catch {
        // the session failed: resume from `at`
      }
      if (!ac.signal.aborted && !closed) await sleep(20);
    }
  };
  const done = run();
  return {
    items,
    isClosed: () => closed,
    sessions: () => sessions,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}

/** A TCP relay to `port`: the reader goes through it, so cutting its sockets cuts only the reader. */
async function relay(port: number): Promise<{ url: string; cut(): number; close(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const p = typeof address === 'object' && address !== null ? address.port : 0;
  const cut = () => {
    const n = sockets.size;
    for (const s of sockets) s.destroy();
    return n;
  };
  return {
    url: `http://127.0.0.1:${p}`,
    cut,
    close: () => {
      cut();
      server.close();
    },
  };
}

describe('Durable Streams: @durable-streams/client against the hub', () => {
  let t: TestHub;
  before(async () => {
    // No publish rate limit: producers append back to back (the limit has its own test).
    t = await startHub({ streams: { longPollTimeout: 2 }, limits: { publishRatePerIp: 0 } });
  });
  after(() => t.close());

  test('creates, appends, reads back and resumes from an offset', async () => {
    const url = `${t.url}/v1/stream/interop/basic`;
    const ds = await DurableStream.create({ url, contentType: 'application/json', warnOnHttp: false });
    await ds.append(JSON.stringify({ n: 1 }));
    await ds.append(JSON.stringify({ n: 2 }));
    // A raw JSON-array POST stores each element as its own message (the client wraps appends).
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[{"n":3}]' });
    const first = await ds.stream<{ n: number }>({ live: false });
    assert.deepEqual(await first.json(), [{ n: 1 }, { n: 2 }, { n: 3 }]);
    const resumeAt = first.offset;
    await ds.append(JSON.stringify({ n: 4 }));
    const rest = await ds.stream<{ n: number }>({ live: false, offset: resumeAt });
    assert.deepEqual(await rest.json(), [{ n: 4 }]);
    const head = await ds.head();
    assert.equal(head.exists, true);
  });

  for (const live of ['long-poll', 'sse'] as const) {
    test(`a ${live} tail cut twice mid-stream gets every item exactly once`, async () => {
      const url = `${t.url}/v1/stream/interop/cut-${live}`;
      const ds = await DurableStream.create({ url, contentType: 'application/json', warnOnHttp: false });
      const link = await relay(t.port);
      const reader = await tail(`${link.url}/v1/stream/interop/cut-${live}`, live);
      const producer = new IdempotentProducer(ds, `writer-${live}`, { lingerMs: 0 });
      const total = 300;
      for (let i = 0; i < total; i++) {
        producer.append(JSON.stringify(i));
        if (i === 100 || i === 200) {
          await producer.flush();
          await waitFor(() => reader.items.length >= i - 50, 10_000, `${live} reader to catch up`);
          // Cut the tail's connection (open, as the tail is live); the client reconnects from its offset.
          assert.ok(link.cut() > 0, 'the tail had a connection to cut');
        }
        if (i % 25 === 0) await sleep(2);
      }
      await producer.flush();
      await waitFor(() => reader.items.length >= total, 15_000, `all ${total} items over ${live}`);
      await sleep(100);
      await reader.stop();
      link.close();
      assert.deepEqual(
        reader.items,
        Array.from({ length: total }, (_, i) => i),
      );
    });
  }

  test('a tail ends at EOF when the writer closes the stream', async () => {
    const url = `${t.url}/v1/stream/interop/eof`;
    const ds = await DurableStream.create({ url, contentType: 'application/json', warnOnHttp: false });
    const reader = await tail(url, 'sse');
    await ds.append(JSON.stringify(1));
    await ds.close({ body: JSON.stringify(2) });
    await waitFor(() => reader.isClosed(), 5000, 'streamClosed');
    assert.deepEqual(reader.items, [1, 2]);
  });
});

describe('Durable Streams over Redis: append on one hub, tail on another', () => {
  let redis: RedisServer;
  let a: TestHub;
  let b: TestHub;
  before(async () => {
    redis = await startRedis();
    const options: HubOptions = {
      store: redis.url,
      streams: { longPollTimeout: 2 },
      limits: { publishRatePerIp: 0 },
    };
    a = await startHub(options);
    b = await startHub(options);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  for (const live of ['long-poll', 'sse'] as const) {
    test(`a ${live} tail on hub B gets what hub A appends, in order, once`, async () => {
      const path = `/v1/stream/redis/${live}`;
      await DurableStream.create({
        url: `${a.url}${path}`,
        contentType: 'application/json',
        warnOnHttp: false,
      });
      const reader = await tail(`${b.url}${path}`, live);
      const writer = new DurableStream({
        url: `${a.url}${path}`,
        contentType: 'application/json',
        warnOnHttp: false,
      });
      for (let i = 0; i < 50; i++) await writer.append(JSON.stringify(i));
      await waitFor(() => reader.items.length >= 50, 10_000, 'the tail on hub B');
      await reader.stop();
      assert.deepEqual(
        reader.items,
        Array.from({ length: 50 }, (_, i) => i),
      );
    });
  }

  test('an idempotent producer is fenced and deduplicated across hubs', async () => {
    const path = '/v1/stream/redis/producer';
    const put = await fetch(`${a.url}${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' } });
    assert.equal(put.status, 201);
    const send = (hub: TestHub, epoch: number, seq: number, body: string) =>
      fetch(`${hub.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'text/plain',
          'producer-id': 'p',
          'producer-epoch': String(epoch),
          'producer-seq': String(seq),
        },
        body,
      });
    assert.equal((await send(a, 0, 0, 'a')).status, 200);
    assert.equal((await send(b, 0, 0, 'a')).status, 204, 'the retry on the other hub is a duplicate');
    assert.equal((await send(b, 1, 0, 'b')).status, 200);
    const fenced = await send(a, 0, 1, 'zombie');
    assert.equal(fenced.status, 403);
    assert.equal(fenced.headers.get('producer-epoch'), '1');
    const read = await fetch(`${b.url}${path}?offset=-1`);
    assert.equal(await read.text(), 'ab');
  });

  test('while Redis is down requests get 503 ERR_STORE_UNAVAILABLE; once it is back they work', async () => {
    const path = '/v1/stream/redis/outage';
    assert.equal(
      (await fetch(`${a.url}${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' } })).status,
      201,
    );
    await redis.stop();
    const down = await fetch(`${a.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(down.status, 503);
    assert.equal(((await down.json()) as { error: { code: string } }).error.code, 'ERR_STORE_UNAVAILABLE');
    assert.ok(down.headers.get('retry-after') !== null);
    await redis.start();
    // The restarted server is empty (no persistence in tests): the stream is created again.
    let status = 0;
    for (let i = 0; i < 50 && status !== 201; i++) {
      status = (await fetch(`${b.url}${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' } }))
        .status;
      if (status !== 201) await sleep(100);
    }
    assert.equal(status, 201);
  });
});

describe('Durable Streams: bad input gets the protocol status and stores nothing', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ limits: { maxBodyBytes: 1024 }, streams: { maxStreamBytes: 2000 } });
  });
  after(() => t.close());

  const base = () => `${t.url}/v1/stream/bad`;
  async function tailOf(path: string): Promise<string | null> {
    const res = await fetch(`${base()}/${path}`, { method: 'HEAD' });
    return res.headers.get('stream-next-offset');
  }
  async function expectError(res: Response, status: number, code: string): Promise<void> {
    assert.equal(res.status, status);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, code);
    assert.equal(typeof body.error.message, 'string');
  }

  test('malformed, repeated and future offsets: 400 ERR_BAD_OFFSET', async () => {
    await fetch(`${base()}/offsets`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: 'abc',
    });
    for (const q of [
      'offset=abc',
      'offset=-2',
      'offset=1,2',
      'offset=-1&offset=-1',
      'offset=9999999999999999_0000000000000000',
    ]) {
      await expectError(await fetch(`${base()}/offsets?${q}`), 400, 'ERR_BAD_OFFSET');
    }
    await expectError(await fetch(`${base()}/offsets?live=long-poll`), 400, 'ERR_BAD_OFFSET');
  });

  test('content-type mismatch, bad JSON, empty JSON array, oversize: nothing appended', async () => {
    await fetch(`${base()}/ct`, { method: 'PUT', headers: { 'content-type': 'application/json' } });
    const before = await tailOf('ct');
    const post = (type: string, body: string) =>
      fetch(`${base()}/ct`, { method: 'POST', headers: { 'content-type': type }, body });
    await expectError(await post('text/plain', 'x'), 409, 'ERR_STREAM_CONFLICT');
    await expectError(await post('application/json', '{nope'), 400, 'ERR_BAD_BODY');
    await expectError(await post('application/json', '[]'), 400, 'ERR_BAD_BODY');
    await expectError(
      await post('application/json', JSON.stringify('x'.repeat(2000))),
      413,
      'ERR_BODY_TOO_LARGE',
    );
    assert.equal(await tailOf('ct'), before);
    const read = await fetch(`${base()}/ct?offset=-1`);
    assert.equal(await read.text(), '[]');
  });

  test('Stream-Seq and producer sequence regressions, closed streams', async () => {
    await fetch(`${base()}/seq`, { method: 'PUT', headers: { 'content-type': 'text/plain' } });
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${base()}/seq`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body });
    assert.equal((await post({ 'stream-seq': 'b' }, '1')).status, 204);
    await expectError(await post({ 'stream-seq': 'a' }, '2'), 409, 'ERR_STREAM_CONFLICT');
    const p = (seq: number) => ({ 'producer-id': 'w', 'producer-epoch': '0', 'producer-seq': String(seq) });
    assert.equal((await post(p(0), '3')).status, 200);
    const gap = await post(p(5), '4');
    assert.equal(gap.headers.get('producer-expected-seq'), '1');
    await expectError(gap, 409, 'ERR_PRODUCER_SEQ_GAP');
    await expectError(await post({ 'producer-id': 'w' }, '5'), 400, 'ERR_BAD_PARAM');
    assert.equal((await post({ 'stream-closed': 'true' }, '')).status, 204);
    const closed = await post({}, '6');
    assert.equal(closed.headers.get('stream-closed'), 'true');
    await expectError(closed, 409, 'ERR_STREAM_CLOSED');
    assert.equal(await (await fetch(`${base()}/seq?offset=-1`)).text(), '13');
  });

  test('a stream full at streams.maxStreamBytes refuses appends with 413 ERR_STREAM_FULL', async () => {
    const put = await fetch(`${base()}/full`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(1000),
    });
    assert.equal(put.status, 201);
    const post = () =>
      fetch(`${base()}/full`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'y'.repeat(600),
      });
    assert.equal((await post()).status, 204);
    const before = await tailOf('full');
    await expectError(await post(), 413, 'ERR_STREAM_FULL');
    assert.equal(await tailOf('full'), before);
  });

  test('an expired stream is gone (404) and its path can be created again', async () => {
    const put = await fetch(`${base()}/ttl`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain', 'stream-ttl': '1' },
      body: 'old',
    });
    assert.equal(put.status, 201);
    await sleep(1100);
    await expectError(await fetch(`${base()}/ttl?offset=-1`), 404, 'ERR_STREAM_NOT_FOUND');
    await expectError(
      await fetch(`${base()}/ttl`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }),
      404,
      'ERR_STREAM_NOT_FOUND',
    );
    const again = await fetch(`${base()}/ttl`, { method: 'PUT', headers: { 'content-type': 'text/plain' } });
    assert.equal(again.status, 201);
    assert.equal(await (await fetch(`${base()}/ttl?offset=-1`)).text(), '');
  });

  test('bad TTL, expiry and stream paths: 400', async () => {
    const put = (path: string, headers: Record<string, string>) =>
      fetch(`${base()}/${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain', ...headers } });
    await expectError(await put('t1', { 'stream-ttl': '01' }), 400, 'ERR_BAD_PARAM');
    await expectError(await put('t2', { 'stream-expires-at': 'tomorrow' }), 400, 'ERR_BAD_PARAM');
    await expectError(
      await put('t3', { 'stream-ttl': '5', 'stream-expires-at': '2099-01-01T00:00:00Z' }),
      400,
      'ERR_BAD_PARAM',
    );
    await expectError(await fetch(`${t.url}/v1/stream/a//b`, { method: 'PUT' }), 400, 'ERR_BAD_PARAM');
    for (const p of ['t1', 't2', 't3']) assert.equal(await tailOf(p), null);
  });
});

describe('Durable Streams: mounting, CORS and turning it off', () => {
  test('under the hub prefix; preflights allow the protocol headers; foreign Origins cannot write', async () => {
    const t = await startHub({ prefix: '/rt', cors: { origins: ['https://app.example'] } });
    try {
      const url = `${t.url}/rt/v1/stream/cors/a`;
      const pre = await fetch(url, {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://app.example',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'producer-id, stream-closed',
        },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /producer-id/);
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /if-none-match/);
      const put = await fetch(url, {
        method: 'PUT',
        headers: { Origin: 'https://app.example', 'content-type': 'text/plain' },
        body: 'x',
      });
      assert.equal(put.status, 201);
      assert.equal(put.headers.get('location'), url);
      assert.match(put.headers.get('access-control-expose-headers') ?? '', /Stream-Next-Offset/);
      const evil = await fetch(url, {
        method: 'POST',
        headers: { Origin: 'https://evil.example', 'content-type': 'text/plain' },
        body: 'y',
      });
      assert.equal(evil.status, 403);
      assert.equal(((await evil.json()) as { error: { code: string } }).error.code, 'ERR_ORIGIN_FORBIDDEN');
      assert.equal(await (await fetch(`${url}?offset=-1`)).text(), 'x');
    } finally {
      await t.close();
    }
  });

  test('streams: false serves no stream routes', async () => {
    const t = await startHub({ streams: false });
    try {
      assert.equal(t.hub.streams, undefined);
      const res = await fetch(`${t.url}/v1/stream/off`, { method: 'PUT' });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_NOT_FOUND');
    } finally {
      await t.close();
    }
  });
});
