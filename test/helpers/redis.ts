/**
 * A real redis-server for tests: on a free loopback port (never 6379), without persistence, in a
 * temporary directory. `stop()` kills it (its data is gone), `start()` starts it again empty on the
 * same port, `restart()` does both.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT/0` */
  readonly url: string;
  /** Starts the server (again, empty) on the same port; resolves once it answers PING. */
  start(): Promise<void>;
  /** Kills the server (SIGKILL: nothing is saved) and waits for it to exit. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Sends one command (inline form) and resolves with the raw reply. */
  command(line: string): Promise<string>;
}

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** A free TCP port on 127.0.0.1 (bind to port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-redis-'));
  let child: ChildProcess | undefined;
  let port = 0;

  let started = false;
  const start = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      // A fresh port until the first start succeeds (another process may grab a free port
      // first); restarts keep the port so clients reconnect to the same address.
      if (!started) port = await freePort();
      const proc = spawn(
        REDIS_SERVER,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--protected-mode',
          'no',
          '--loglevel',
          'warning',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let exited = false;
      proc.once('exit', () => {
        exited = true;
      });
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && !exited) {
        if ((await command(port, 'PING').catch(() => '')).startsWith('+PONG')) {
          child = proc;
          started = true;
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      proc.kill('SIGKILL');
      if (attempt >= 5) throw new Error(`redis-server did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  };

  await start();
  const server: RedisServer = {
    get port() {
      return port;
    },
    get url() {
      return `redis://127.0.0.1:${port}/0`;
    },
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    command: (line) => command(port, line),
  };
  process.once('exit', () => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return server;
}

/** Sends `line` as an inline command and resolves with the first reply chunk. */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('redis command timed out'));
    }, 2000);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => socket.write(`${line}\r\n`));
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.end();
      resolve(data.toString());
    });
  });
}
