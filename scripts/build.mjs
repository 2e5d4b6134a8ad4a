// Builds the package: tsc emits dist/ (ESM + .d.ts, source maps with their sources) from src/,
// esbuild bundles the browser client into one minified IIFE (dist/cometa.min.js, global `cometa`)
// that the hub serves at /cometa.js. Then the client-only package, packages/cometa-client (no
// dependencies, see docs/client.md), gets the same client and protocol files in its own dist/.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const CLIENT_PACKAGE = 'packages/cometa-client/dist';
rmSync('dist', { recursive: true, force: true });
rmSync(CLIENT_PACKAGE, { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
});
chmodSync('dist/cli/main.js', 0o755);
await build({
  entryPoints: ['src/client/browser.ts'],
  bundle: true,
  minify: true,
  format: 'iife',
  globalName: 'cometa',
  platform: 'browser',
  target: ['es2019'],
  outfile: 'dist/cometa.min.js',
  sourcemap: true,
  logLevel: 'warning',
});
for (const part of ['client', 'protocol'])
  cpSync(`dist/${part}`, `${CLIENT_PACKAGE}/${part}`, { recursive: true });
for (const file of ['cometa.min.js', 'cometa.min.js.map'])
  cpSync(`dist/${file}`, `${CLIENT_PACKAGE}/${file}`);
