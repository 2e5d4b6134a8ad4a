/**
 * The Durable Streams storage contract, the same on every store (memory, SQLite, Redis): atomic
 * compare-and-set commits, record ranges, change notifications, and the expiry sweep deleting a
 * stream whose TTL ran out with nobody reading it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StreamEngine } from '../../src/hub/streams/engine.js';
import type { StreamStorage } from '../../src/hub/streams/storage.js';
import { MemoryStreamStorage } from '../../src/hub/streams/storage-memory.js';
import { RedisStreamStorage } from '../../src/hub/streams/storage-redis.js';
import { SqliteStreamStorage, streamsFileOf } from '../../src/hub/streams/storage-sqlite.js';
import { sleep } from '../helpers/hub.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

const LIMITS = {
  maxReadBytes: 1 << 20,
  maxReadRecords: 1000,
  maxStreamBytes: 1 << 20,
  maxTotalBytes: 1 << 30,
  maxStreams: 100_000,
  maxProducers: 100,
  maxForkDepth: 16,
  maxAppendMessages: 10_000,
  maxJsonDepth: 64,
};
const BOUNDS = { maxBytes: LIMITS.maxTotalBytes, maxStreams: LIMITS.maxStreams };
const create = (engine: StreamEngine, path: string, extra: { ttlSeconds?: number } = {}) =>
  engine.create(path, {
    contentType: 'application/json',
    ttlSeconds: extra.ttlSeconds,
    expiresAt: undefined,
    closed: false,
    body: Buffer.from('[1,2]'),
    forkedFrom: undefined,
    forkOffset: undefined,
    forkSubOffset: undefined,
  });

function contract(
  name: string,
  make: () => Promise<StreamStorage>,
  cleanup: () => Promise<void> = async () => {},
) {
  describe(`stream storage: ${name}`, () => {
    let storage: StreamStorage;
    let engine: StreamEngine;
    before(async () => {
      storage = await make();
      await storage.open();
      engine = new StreamEngine(storage, LIMITS);
    });
    after(async () => {
      await storage.close();
      await cleanup();
    });

    it('commits only when the version still matches', async () => {
      const { meta } = await create(engine, 'cas/a');
      const stale = { ...meta, version: meta.version + 1 };
      assert.equal(
        await storage.commit([{ path: 'cas/a', expect: meta.version, meta: stale }], BOUNDS),
        true,
      );
      // A second writer that loaded the same version loses, and nothing of its change lands.
      const loser = { ...meta, version: meta.version + 1, closed: true };
      assert.equal(
        await storage.commit([{ path: 'cas/a', expect: meta.version, meta: loser }], BOUNDS),
        false,
      );
      assert.equal((await storage.load('cas/a'))?.closed, false);
      // "Must not exist" fails on an existing stream.
      assert.equal(await storage.commit([{ path: 'cas/a', expect: 0, meta }], BOUNDS), false);
    });

    it('reads record ranges and notifies changes', async () => {
      const changed: string[] = [];
      storage.onChange((p) => changed.push(p));
      await create(engine, 'rec/a');
      await engine.append('rec/a', {
        contentType: 'application/json',
        body: Buffer.from('[3,4,5]'),
        close: false,
        streamSeq: undefined,
        producer: undefined,
      });
      const meta = (await storage.load('rec/a'))!;
      assert.equal(meta.count, 5);
      const mid = await storage.records(meta, 1, 3, 1 << 20);
      assert.deepEqual(
        mid.map((r) => r.data.toString()),
        ['2', '3', '4'],
      );
      assert.deepEqual(
        mid.map((r) => r.end),
        [true, false, false],
      );
      const capped = await storage.records(meta, 0, 10, 1);
      assert.equal(capped.length, 1, 'a byte budget below one record still returns one');
      for (let i = 0; i < 50 && !changed.includes('rec/a'); i++) await sleep(20);
      assert.ok(changed.includes('rec/a'));
    });

    it('sweeps a stream whose TTL ran out, with nobody reading it', async () => {
      await create(engine, 'ttl/a', { ttlSeconds: 1 });
      await create(engine, 'ttl/keep');
      assert.deepEqual(await storage.expiring(Date.now(), 10), []);
      await sleep(1100);
      assert.deepEqual(await storage.expiring(Date.now(), 10), ['ttl/a']);
      assert.equal(await engine.sweep(), 1);
      assert.equal(await storage.load('ttl/a'), undefined);
      assert.deepEqual(
        await storage.records({ ...(await storage.load('ttl/keep'))!, path: 'ttl/a' }, 0, 10, 1 << 20),
        [],
      );
      assert.notEqual(await storage.load('ttl/keep'), undefined);
    });

    it('a source that expires while a fork reads it is soft-deleted once, then left alone', async () => {
      await create(engine, 'ttl/src', { ttlSeconds: 1 });
      await engine.create('ttl/fork', {
        contentType: undefined,
        ttlSeconds: 3600,
        expiresAt: undefined,
        closed: false,
        body: Buffer.alloc(0),
        forkedFrom: 'ttl/src',
        forkOffset: undefined,
        forkSubOffset: undefined,
      });
      await sleep(1100);
      assert.equal(await engine.sweep(), 1);
      assert.equal((await storage.load('ttl/src'))?.softDeleted, true);
      assert.deepEqual(await storage.expiring(Date.now(), 10), [], 'out of the expiry index');
      const fork = (await engine.get('ttl/fork'))!;
      const read = await engine.read(fork, '0000000000000000_0000000000000000');
      assert.deepEqual(
        read.records.map((r) => r.data.toString()),
        ['1', '2'],
      );
    });
  });
}

contract('memory', async () => new MemoryStreamStorage());

const dir = mkdtempSync(join(tmpdir(), 'cometa-ds-storage-'));
contract(
  'sqlite',
  async () => new SqliteStreamStorage(join(dir, 'cometa.streams.db')),
  async () => rmSync(dir, { recursive: true, force: true }),
);

let redis: RedisServer | undefined;
contract(
  'redis',
  async () => {
    redis = await startRedis();
    return new RedisStreamStorage(`${redis.url}?prefix=t:`);
  },
  async () => {
    await redis?.stop();
  },
);

describe('the SQLite streams file', () => {
  it('sits beside the hub file', () => {
    assert.equal(streamsFileOf('/d/cometa.db'), '/d/cometa.streams.db');
    assert.equal(streamsFileOf('/d.x/history'), '/d.x/history.streams');
    assert.equal(streamsFileOf(':memory:'), ':memory:');
  });
});
