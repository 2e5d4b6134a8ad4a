/** The shared transport suite with every hub on a real redis-server (its own key prefix each). */
import { after, before } from 'node:test';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { transportSuite } from '../helpers/transport-suite.js';

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());
transportSuite({ name: 'redis', store: (driver) => `${redis.url}?prefix=suite-${driver}:` });
