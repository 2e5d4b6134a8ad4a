// nginx as the bench runs it (the nchan peer, and the proxy in front of cometa): one process on a
// config written into `dir`, its error log kept there, started and awaited on `port`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnServer, stopChild } from './children.mjs';
import { waitForPort } from './net.mjs';

/** Writes `config` to `dir`/nginx.conf, starts nginx on it and waits for `port`; `what` names it in errors. */
export async function startNginx(dir, config, port, what) {
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, config);
  const child = spawnServer('nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  try {
    await waitForPort(port, '127.0.0.1', 10_000, () => child.exitCode === null);
  } catch (e) {
    await stopChild(child);
    throw new Error(`${what} did not start: ${e.message}\n${stderr}`);
  }
  return child;
}
