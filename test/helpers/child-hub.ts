/**
 * A hub in a CHILD process (its memory measured apart from the test's clients, its crash seen as an
 * exit), driven over IPC. Run as a script by {@link startChildHub}; options come as JSON in argv.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { HubOptions } from '../../src/hub/index.js';

export interface ChildMemory {
  /** Resident set size from /proc/PID/status (VmRSS), bytes. */
  rss: number;
  /** Peak RSS (VmHWM), bytes. */
  hwm: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface ChildHub {
  port: number;
  url: string;
  pid: number;
  child: ChildProcess;
  /** Memory after a full GC in the child. */
  memory(): Promise<ChildMemory>;
  /** `hub.core.stats`, plus open subscriber and connection counts. */
  stats(): Promise<Record<string, number>>;
  /** Publishes in the child (no HTTP), in order; resolves with the ids. */
  publish(channel: string, data: unknown[]): Promise<string[]>;
  /**
   * Publishes `count` messages `{ i, t, pad }` in the child, `t` stamped at publish time (latency
   * measurements), `i` from `from`; resolves when all are stored.
   */
  burst(channel: string, from: number, count: number, padBytes: number): Promise<void>;
  /** Exit code if the child died (a crash), else null. */
  exitCode(): number | null;
  close(): Promise<void>;
}

/** Reads VmRSS/VmHWM of a process (Linux). */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

type Msg = { id: number; op: string; args?: unknown };

/** Starts a hub in a child process (tsx, --expose-gc) with the given options. */
export async function startChildHub(options: HubOptions = {}): Promise<ChildHub> {
  const child = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(options)], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let exit: number | null = null;
  child.on('exit', (code, signal) => {
    exit = code ?? (signal ? 128 : 0);
  });
  let next = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => reject(new Error('child hub exited before listening')));
    child.on('message', (m: { id?: number; port?: number; result?: unknown }) => {
      if (m.port !== undefined) resolve(m.port);
      else if (m.id !== undefined) {
        waiting.get(m.id)?.(m.result);
        waiting.delete(m.id);
      }
    });
  });
  const ask = <T>(op: string, args?: unknown) =>
    new Promise<T>((resolve, reject) => {
      if (exit !== null) return reject(new Error(`child hub exited with ${exit}`));
      const id = next++;
      waiting.set(id, resolve as (v: unknown) => void);
      child.send({ id, op, args } satisfies Msg);
    });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    child,
    memory: () => ask<ChildMemory>('memory'),
    stats: () => ask<Record<string, number>>('stats'),
    publish: (channel, data) => ask<string[]>('publish', { channel, data }),
    burst: (channel, from, count, padBytes) => ask<void>('burst', { channel, from, count, padBytes }),
    exitCode: () => exit,
    close: async () => {
      if (exit !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      await Promise.race([ask('close').catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (exit === null) child.kill('SIGKILL');
    },
  };
}

// The child side.
if (process.argv[2] === '--child') {
  const { createHub } = await import('../../src/hub/index.js');
  const options = JSON.parse(process.argv[3] ?? '{}') as HubOptions;
  const hub = createHub({ store: 'memory', logger: false, ...options });
  const address = await hub.listen(0, '127.0.0.1');
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', async (m: Msg) => {
    let result: unknown;
    if (m.op === 'memory') {
      gc?.();
      await new Promise((r) => setTimeout(r, 50));
      gc?.();
      const mu = process.memoryUsage();
      result = {
        ...procMemory(process.pid),
        heapUsed: mu.heapUsed,
        external: mu.external,
        arrayBuffers: mu.arrayBuffers,
      };
    } else if (m.op === 'stats') {
      result = { ...hub.core.stats, subscribers: hub.core.subscribers.size };
    } else if (m.op === 'publish') {
      const { channel, data } = m.args as { channel: string; data: unknown[] };
      const ids: string[] = [];
      for (const d of data) ids.push(await hub.publish(channel, d));
      result = ids;
    } else if (m.op === 'burst') {
      const { channel, from, count, padBytes } = m.args as {
        channel: string;
        from: number;
        count: number;
        padBytes: number;
      };
      const pad = 'p'.repeat(padBytes);
      for (let i = from; i < from + count; i++) await hub.publish(channel, { i, t: Date.now(), pad });
    } else if (m.op === 'close') {
      await hub.close();
      process.send?.({ id: m.id, result: true });
      process.exit(0);
    }
    process.send?.({ id: m.id, result });
  });
  process.send?.({ port: address.port });
}
