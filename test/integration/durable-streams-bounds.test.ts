/**
 * What a Durable Streams client can make the hub hold is bounded on every store (memory, SQLite,
 * Redis): the bytes and the number of streams over all streams (507 `ERR_STREAMS_FULL`, given back
 * by DELETE), producers per stream, fork depth, messages per JSON append and JSON nesting. Every
 * refusal stores nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import type { HubOptions } from '../../src/hub/index.js';
import { sleep, startHub, type TestHub } from '../helpers/hub.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

const STREAMS = {
  maxTotalBytes: 16_384,
  maxStreams: 5,
  maxProducers: 2,
  maxForkDepth: 2,
  maxAppendMessages: 10,
};

async function expectError(res: Response, status: number, code: string): Promise<void> {
  const body = (await res.json()) as { error?: { code: string; message: string } };
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.error?.code, code);
  assert.equal(typeof body.error?.message, 'string');
}

function bounded(name: string, setup: () => Promise<{ store: string; done: () => Promise<void> }>) {
  describe(`Durable Streams bounds: ${name} store`, () => {
    let t: TestHub;
    let options: HubOptions;
    let done: () => Promise<void>;
    before(async () => {
      const s = await setup();
      done = s.done;
      options = {
        store: s.store,
        limits: { publishRatePerIp: 0, maxJsonDepth: 8 },
        streams: STREAMS,
      };
      t = await startHub(options);
    });
    after(async () => {
      await t.close();
      await done();
    });

    const url = (path: string) => `${t.url}/v1/stream/${path}`;
    const put = (path: string, body?: string, headers: Record<string, string> = {}) =>
      fetch(url(path), {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', ...headers },
        body: body ?? null,
      });
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(url(path), {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', ...headers },
        body,
      });
    const del = async (...paths: string[]) => {
      for (const p of paths) assert.equal((await fetch(url(p), { method: 'DELETE' })).status, 204, p);
    };
    const tailOf = async (path: string) => {
      const res = await fetch(url(path), { method: 'HEAD' });
      return res.status === 200 ? res.headers.get('stream-next-offset') : res.status;
    };
    const data = 'a'.repeat(5200);

    test('total bytes: a create or append past maxTotalBytes gets 507, DELETE gives the bytes back', async () => {
      assert.equal((await put('fill/a', data)).status, 201);
      assert.equal((await put('fill/b', data)).status, 201);
      await expectError(await put('fill/c', data), 507, 'ERR_STREAMS_FULL');
      assert.equal(await tailOf('fill/c'), 404);
      const tail = await tailOf('fill/a');
      await expectError(await post('fill/a', data), 507, 'ERR_STREAMS_FULL');
      assert.equal(await tailOf('fill/a'), tail);
      // Still readable and deletable while full.
      assert.equal((await (await fetch(`${url('fill/a')}?offset=-1`)).arrayBuffer()).byteLength, 5200);
      await del('fill/b');
      assert.equal((await put('fill/c', data)).status, 201);
      await del('fill/a', 'fill/c');
    });

    test('an expired stream gives its bytes back without waiting for the sweep', async () => {
      assert.equal((await put('ttl/a', data, { 'stream-ttl': '1' })).status, 201);
      assert.equal((await put('ttl/b', data)).status, 201);
      await expectError(await put('ttl/c', data), 507, 'ERR_STREAMS_FULL');
      await sleep(1100);
      // Nobody read ttl/a since it expired: only the write that found the store full removes it.
      assert.equal((await put('ttl/c', data)).status, 201);
      assert.equal(await tailOf('ttl/a'), 404);
      await del('ttl/b', 'ttl/c');
    });

    test('tiny records are charged a fixed overhead each, not only their data', async () => {
      assert.equal((await put('tiny', undefined, { 'content-type': 'application/json' })).status, 201);
      const batch = JSON.stringify(Array.from({ length: 10 }, () => 0));
      let accepted = 0;
      let refused: Response | undefined;
      // 2,000 one-byte messages are 2,000 bytes of data: far below the bound without overheads.
      for (let i = 0; i < 200 && refused === undefined; i++) {
        const res = await post('tiny', batch, { 'content-type': 'application/json' });
        if (res.status === 204) accepted += 10;
        else refused = res;
      }
      assert.ok(refused !== undefined, 'the store filled up');
      await expectError(refused, 507, 'ERR_STREAMS_FULL');
      assert.ok(accepted < 16_384 / 40, `${accepted} messages accepted`);
      await del('tiny');
    });

    test('streams: a create past maxStreams gets 507 and stores nothing; DELETE frees a place', async () => {
      for (let i = 0; i < 5; i++) assert.equal((await put(`many/${i}`)).status, 201);
      await expectError(await put('many/5'), 507, 'ERR_STREAMS_FULL');
      assert.equal(await tailOf('many/5'), 404);
      // An identical PUT of an existing stream is no new stream: still 200.
      assert.equal((await put('many/0')).status, 200);
      await del('many/0');
      assert.equal((await put('many/5')).status, 201);
      await del('many/1', 'many/2', 'many/3', 'many/4', 'many/5');
    });

    test('producers: a new producer past maxProducers gets 409, known ones keep appending', async () => {
      assert.equal((await put('prod')).status, 201);
      const as = (id: string, seq: number) => ({
        'producer-id': id,
        'producer-epoch': '0',
        'producer-seq': String(seq),
      });
      assert.equal((await post('prod', 'a', as('p0', 0))).status, 200);
      assert.equal((await post('prod', 'b', as('p1', 0))).status, 200);
      const tail = await tailOf('prod');
      await expectError(await post('prod', 'c', as('p2', 0)), 409, 'ERR_TOO_MANY_PRODUCERS');
      assert.equal(await tailOf('prod'), tail);
      assert.equal((await post('prod', 'd', as('p0', 1))).status, 200);
      await del('prod');
    });

    test('forks: a fork deeper than maxForkDepth gets 409 and is not created', async () => {
      assert.equal((await put('root', 'x')).status, 201);
      const fork = (path: string, from: string) =>
        put(path, undefined, { 'stream-forked-from': `/v1/stream/${from}` });
      assert.equal((await fork('f1', 'root')).status, 201);
      assert.equal((await fork('f2', 'f1')).status, 201);
      await expectError(await fork('f3', 'f2'), 409, 'ERR_FORK_TOO_DEEP');
      assert.equal(await tailOf('f3'), 404);
      // A fork of a shallower stream is fine.
      assert.equal((await fork('g2', 'f1')).status, 201);
      await del('g2', 'f2', 'f1', 'root');
    });

    test('JSON: more than maxAppendMessages in one array gets 413, deeper than maxJsonDepth 400', async () => {
      const json = { 'content-type': 'application/json' };
      const eleven = JSON.stringify(Array.from({ length: 11 }, (_, i) => i));
      await expectError(await put('js', eleven, json), 413, 'ERR_TOO_MANY_MESSAGES');
      assert.equal(await tailOf('js'), 404);
      assert.equal((await put('js', undefined, json)).status, 201);
      const tail = await tailOf('js');
      await expectError(await post('js', eleven, json), 413, 'ERR_TOO_MANY_MESSAGES');
      let deep: unknown = 1;
      for (let i = 0; i < 9; i++) deep = { a: deep };
      await expectError(await post('js', JSON.stringify(deep), json), 400, 'ERR_JSON_TOO_DEEP');
      assert.equal(await tailOf('js'), tail);
      assert.equal((await post('js', JSON.stringify(Array.from({ length: 10 }, () => 1)), json)).status, 204);
      await del('js');
    });

    if (name === 'redis') {
      test('hubs sharing the store share its bounds', async () => {
        const other = await startHub(options);
        try {
          assert.equal((await put('shared/a', data)).status, 201);
          assert.equal((await put('shared/b', data)).status, 201);
          const res = await fetch(`${other.url}/v1/stream/shared/c`, {
            method: 'PUT',
            headers: { 'content-type': 'application/octet-stream' },
            body: data,
          });
          await expectError(res, 507, 'ERR_STREAMS_FULL');
          assert.equal(await tailOf('shared/c'), 404);
          await del('shared/a', 'shared/b');
        } finally {
          await other.close();
        }
      });
    }

    if (name !== 'memory') {
      test('a hub opening the store again counts what it holds', async () => {
        assert.equal((await put('kept/a', data)).status, 201);
        assert.equal((await put('kept/b', data)).status, 201);
        await t.close();
        t = await startHub(options);
        await expectError(await put('kept/c', data), 507, 'ERR_STREAMS_FULL');
        await del('kept/a');
        assert.equal((await put('kept/c', data)).status, 201);
        await del('kept/b', 'kept/c');
      });
    }
  });
}

bounded('memory', async () => ({ store: 'memory', done: async () => {} }));

bounded('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-ds-bounds-'));
  return {
    store: `sqlite:${join(dir, 'cometa.db')}`,
    done: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

bounded('redis', async () => {
  const redis: RedisServer = await startRedis();
  return { store: redis.url, done: () => redis.stop() };
});

describe('Durable Streams bounds: defaults', () => {
  test('maxTotalBytes is 256 MiB on memory and Redis, 1 GiB on SQLite, unless given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cometa-ds-defaults-'));
    const redis = await startRedis();
    const hubs: TestHub[] = [];
    try {
      for (const [store, bytes] of [
        ['memory', 256 << 20],
        [redis.url, 256 << 20],
        [`sqlite:${join(dir, 'cometa.db')}`, 1 << 30],
      ] as const) {
        const t = await startHub({ store });
        hubs.push(t);
        assert.equal(t.hub.streams?.limits.maxTotalBytes, bytes, store);
        assert.equal(t.hub.streams?.limits.maxStreams, 100_000);
      }
      const given = await startHub({ streams: { maxTotalBytes: 4096 } });
      hubs.push(given);
      assert.equal(given.hub.streams?.limits.maxTotalBytes, 4096);
    } finally {
      for (const t of hubs) await t.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Durable Streams bounds: a SQLite file written before streams were charged', () => {
  test('its streams are charged at open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cometa-ds-legacy-'));
    // The schema and a stream as the store wrote them before it kept a charge per stream.
    const db = new Database(join(dir, 'cometa.streams.db'));
    db.exec(`
      CREATE TABLE ds_streams (path TEXT PRIMARY KEY, version INTEGER NOT NULL, expires REAL,
        meta TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE ds_records (path TEXT NOT NULL, idx INTEGER NOT NULL, offset TEXT NOT NULL,
        last INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (path, idx)) WITHOUT ROWID;
    `);
    const tail = '0000000000000001_0000000000005200';
    const meta = {
      path: 'old',
      gen: 'legacy',
      version: 1,
      contentType: 'application/octet-stream',
      accessedAt: Date.now(),
      closed: false,
      tail,
      count: 1,
      base: 0,
      producers: {},
      refCount: 0,
      softDeleted: false,
    };
    db.prepare('INSERT INTO ds_streams VALUES (?, 1, NULL, ?)').run('old', JSON.stringify(meta));
    db.prepare('INSERT INTO ds_records VALUES (?, 0, ?, 1, ?)').run('old', tail, Buffer.alloc(5200, 0x61));
    db.close();
    const t = await startHub({
      store: `sqlite:${join(dir, 'cometa.db')}`,
      limits: { publishRatePerIp: 0 },
      streams: { maxTotalBytes: 8000 },
    });
    try {
      const put = () =>
        fetch(`${t.url}/v1/stream/new`, {
          method: 'PUT',
          headers: { 'content-type': 'application/octet-stream' },
          body: 'a'.repeat(5200),
        });
      const old = await fetch(`${t.url}/v1/stream/old?offset=-1`);
      assert.equal((await old.arrayBuffer()).byteLength, 5200);
      await expectError(await put(), 507, 'ERR_STREAMS_FULL');
      assert.equal((await fetch(`${t.url}/v1/stream/old`, { method: 'DELETE' })).status, 204);
      assert.equal((await put()).status, 201);
    } finally {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Durable Streams bounds: a Redis store written before streams were charged', () => {
  test('its streams are charged at the first open', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { lazyConnect: true });
    try {
      await client.connect();
      // A stream as the store wrote it before it kept a charge per stream (no `c`, no totals).
      const tail = '0000000000000001_0000000000005200';
      const meta = {
        path: 'old',
        gen: 'legacy',
        version: 1,
        contentType: 'application/octet-stream',
        accessedAt: Date.now(),
        closed: false,
        tail,
        count: 1,
        base: 0,
        producers: {},
        refCount: 0,
        softDeleted: false,
      };
      await client.hset('cometa:ds:m:old', 'v', '1', 'm', JSON.stringify(meta));
      await client.rpush(
        'cometa:ds:r:old',
        Buffer.concat([Buffer.from(`${tail}1`), Buffer.alloc(5200, 0x61)]),
      );
      const t = await startHub({
        store: redis.url,
        limits: { publishRatePerIp: 0 },
        streams: { maxTotalBytes: 8000 },
      });
      try {
        const put = () =>
          fetch(`${t.url}/v1/stream/new`, {
            method: 'PUT',
            headers: { 'content-type': 'application/octet-stream' },
            body: 'a'.repeat(5200),
          });
        const old = await fetch(`${t.url}/v1/stream/old?offset=-1`);
        assert.equal((await old.arrayBuffer()).byteLength, 5200);
        await expectError(await put(), 507, 'ERR_STREAMS_FULL');
        assert.equal((await fetch(`${t.url}/v1/stream/old`, { method: 'DELETE' })).status, 204);
        assert.equal((await put()).status, 201);
        assert.equal(await client.hget('cometa:ds:totals', 'streams'), '1');
      } finally {
        await t.close();
      }
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });
});
