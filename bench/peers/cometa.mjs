// cometa peer: `node dist/cli/main.js serve --port P --host 127.0.0.1 [--store memory]`, run in a
// temp working directory (so a default file store lands there). Needs `npm run build` first.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNodeServer } from './node-peer.mjs';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export async function start(storeArgs = []) {
  if (!existsSync(CLI)) throw new Error(`cometa is not built (${CLI} missing): run npm run build`);
  const cwd = mkdtempSync(join(tmpdir(), 'cometa-bench-hub-'));
  // startNodeServer passes the port as the first argument after the script: the CLI wants flags.
  const p = await startNodeServer(CLI, [], {
    cwd,
    argsFor: (port) => ['serve', '--port', String(port), '--host', '127.0.0.1', ...storeArgs],
  });
  return {
    ...p,
    async stop() {
      await p.stop();
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}
