/**
 * A hub in its own process (`cometa serve`), on a fixed loopback port so
 * it can be killed with SIGKILL and started again at the same address.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './redis.js';

const ROOT = join(import.meta.dirname, '../..');

/** Newest modification time of the files under `dir`. */
function newest(dir: string): number {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    max = Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return max;
}

/**
 * How to run the CLI: the build (`npm test` builds first; a third of tsx's start-up time) when it
 * is newer than every source file, else the sources through tsx, so a stale build is never tested.
 */
function cliCommand(): string[] {
  const built = join(ROOT, 'dist/cli/main.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newest(join(ROOT, 'src'))) return [built];
  return ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface HubProcess {
  readonly port: number;
  readonly url: string;
  /** Whether the process is running. */
  readonly alive: boolean;
  /** stderr/stdout so far (for failure messages). */
  output(): string;
  /** SIGKILL (kill -9) and wait for the exit. */
  kill(): Promise<void>;
  /** Starts it again with the same arguments and port; resolves when /readyz answers 200. */
  start(): Promise<void>;
}

export async function spawnHub(args: string[], port?: number): Promise<HubProcess> {
  const p = port ?? (await freePort());
  let child: ChildProcess | undefined;
  let out = '';
  const url = `http://127.0.0.1:${p}`;

  const start = async (): Promise<void> => {
    const proc = spawn(
      process.execPath,
      [...cliCommand(), 'serve', '--port', String(p), '--host', '127.0.0.1', '--log-level', 'warn', ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`hub exited while starting (${proc.exitCode ?? proc.signalCode}):\n${out}`);
      try {
        const res = await fetch(`${url}/readyz`);
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    throw new Error(`hub did not become ready on ${url}:\n${out}`);
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  };

  await start();
  return {
    port: p,
    url,
    get alive() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    output: () => out,
    kill,
    start,
  };
}

/** Publishes over HTTP; resolves with the status and the parsed body (never throws on HTTP errors). */
export async function tryPublish(
  base: string,
  channel: string,
  data: unknown,
): Promise<{ status: number; body: { id?: string; error?: { code?: string } } }> {
  const res = await fetch(`${base}/pub/${channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(data),
  });
  const text = await res.text();
  let body: { id?: string; error?: { code?: string } } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // keep {}
  }
  return { status: res.status, body };
}
