// Every process the harness starts is registered here and killed on exit, error or SIGINT.
import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';

const children = new Set();

export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** CPU list servers are pinned to, or null when the run is not pinned (see pinRun). */
let serverCpus = null;

/**
 * `--pin`: every server under measurement runs on CPU 0 (`taskset -c 0`, which execs it, so the pid
 * is the server's) and this process, with every load generator it forks afterwards, on the other
 * CPUs. The issue compares servers per core; unpinned, the scheduler sometimes runs a server and
 * its load generator on one core, and Node's helper threads (GC, libuv) borrow the load
 * generator's core, both of which move a publish figure by more than most code changes.
 */
export function pinRun() {
  const n = os.availableParallelism();
  if (n < 2) throw new Error('--pin needs at least 2 CPUs');
  execFileSync('taskset', ['-a', '-p', '-c', `1-${n - 1}`, String(process.pid)], {
    stdio: 'ignore',
  });
  serverCpus = '0';
}

/** Starts a server process: pinned to the server CPU when the run is pinned. */
export function spawnServer(cmd, args, opts) {
  if (serverCpus === null) return spawnTracked(cmd, args, opts);
  return spawnTracked('taskset', ['-c', serverCpus, cmd, ...args], opts);
}

function spawnTracked(cmd, args, opts) {
  return track(spawn(cmd, args, opts));
}

/** SIGTERM, then SIGKILL after graceMs if still alive. */
export function stopChild(child, graceMs = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {}
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    try {
      child.kill('SIGTERM');
    } catch {}
  });
}

function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
}

let installed = false;
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}, stopping ${children.size} child process(es)`);
      killAll();
      process.exit(130);
    });
  }
}
