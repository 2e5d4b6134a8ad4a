/**
 * The Durable Streams conformance suite (@durable-streams/server-conformance-tests) against a live
 * hub on loopback, on the store named by DS_STORE (memory, sqlite or redis; default memory).
 * Run by scripts/conformance.sh, once per store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformanceTests } from '@durable-streams/server-conformance-tests';
import { afterAll, beforeAll, describe } from 'vitest';
import { createHub, type Hub } from '../../src/hub/index.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

const store = process.env.DS_STORE ?? 'memory';
const config = { baseUrl: '', longPollTimeoutMs: 2_000 };
let hub: Hub | undefined;
let redis: RedisServer | undefined;
let dir: string | undefined;

describe(`Durable Streams conformance (${store} store)`, () => {
  beforeAll(async () => {
    let spec = 'memory';
    if (store === 'sqlite') {
      dir = mkdtempSync(join(tmpdir(), 'cometa-ds-'));
      spec = `sqlite:${join(dir, 'cometa.db')}`;
    } else if (store === 'redis') {
      redis = await startRedis();
      spec = redis.url;
    }
    hub = createHub({
      store: spec,
      logger: false,
      streams: { longPollTimeout: 2 },
      limits: { maxConnectionsPerIp: 0, maxConnections: 0, publishRatePerIp: 0 },
    });
    const address = await hub.listen(0, '127.0.0.1');
    config.baseUrl = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    await hub?.close();
    await redis?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  runConformanceTests(config);
});
