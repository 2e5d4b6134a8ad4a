// Builds the package: tsc emits dist/ (ESM + .d.ts) from src/, esbuild bundles the browser client
// into one minified IIFE (dist/cometa.min.js, global `cometa`) that the hub serves at /cometa.js.
import { execFileSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });
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
