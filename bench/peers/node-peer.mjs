// Starts one Node peer server script in its own process and waits until it listens.
import { fileURLToPath } from 'node:url';
import { spawnServer, stopChild } from '../lib/children.mjs';
import { freePort, waitForPort } from '../lib/net.mjs';

export async function startNodeServer(script, args = [], { env, cwd, argsFor, nodeArgs = [] } = {}) {
  const port = await freePort();
  const file = script.startsWith('/') ? script : fileURLToPath(new URL(script, import.meta.url));
  const child = spawnServer(
    process.execPath,
    [...nodeArgs, file, ...(argsFor ? argsFor(port) : [String(port), ...args])],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
      cwd,
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  try {
    await waitForPort(port, '127.0.0.1', 15_000, () => child.exitCode === null);
  } catch (e) {
    await stopChild(child);
    throw new Error(`${script} did not start: ${e.message}\n${stderr}`);
  }
  return {
    pid: child.pid,
    port,
    child,
    stderr: () => stderr,
    stop: () => stopChild(child),
  };
}
