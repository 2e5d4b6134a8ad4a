/**
 * A loopback TCP proxy in front of a real redis-server that lets a test act between two commands
 * of one connection: every chunk a client sends is shown to `before`, and forwarded to Redis only
 * once what `before` returns has settled (chunks of one connection stay in order). So a test can
 * land a write from another connection exactly between two reads of a scan, every time, where a
 * race between two connections would land it anywhere.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import type { RedisServer } from './redis.js';

export interface RedisGate {
  /** `redis://127.0.0.1:PORT/0`, the proxy's port. */
  readonly url: string;
  /** Called with each chunk a client sends (RESP, as latin1) before it is forwarded. */
  before: (request: string) => Promise<void> | void;
  close(): Promise<void>;
}

export async function startRedisGate(target: RedisServer): Promise<RedisGate> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection(target.port, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let chain = Promise.resolve();
    client.on('data', (chunk) => {
      chain = chain
        .then(() => gate.before(chunk.toString('latin1')))
        .then(() => {
          upstream.write(chunk);
        });
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const gate: RedisGate = {
    url: `redis://127.0.0.1:${port}/0`,
    before: () => {},
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return gate;
}
