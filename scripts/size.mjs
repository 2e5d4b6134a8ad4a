// `npm run size`: min+gzip sizes of the browser client, measured with esbuild (bundled, minified,
// tree-shaken, the target of dist/cometa.min.js) and gzip level 9; exits 1 over budget.
// - request alone: `import { request } from 'cometa/client'` and everything it pulls in.
// - whole client: every export (what dist/cometa.min.js holds).
// `--json` prints the measures as JSON (used by test/unit/client-size.test.ts).
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const KB = 1024;
const client = JSON.stringify(resolve('src/client/index.ts'));
const budgets = [
  // The whole client leaves room for the Comet subscribe() part that joins the same bundle.
  { name: 'request alone', code: `export { request } from ${client};`, budget: 3 * KB },
  { name: 'whole client', code: `export * from ${client};`, budget: 8 * KB },
];

async function measure(code) {
  const out = await build({
    stdin: { contents: code, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2019'],
    write: false,
    logLevel: 'silent',
  });
  const bytes = out.outputFiles[0].contents;
  return { min: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

const results = [];
for (const { name, code, budget } of budgets) results.push({ name, budget, ...(await measure(code)) });
if (process.argv.includes('--json')) {
  console.log(JSON.stringify(results));
} else {
  for (const r of results) {
    console.log(
      `${r.gzip <= r.budget ? 'ok  ' : 'OVER'} ${r.name.padEnd(14)} ${(r.gzip / KB).toFixed(2)} KB min+gzip ` +
        `(${(r.min / KB).toFixed(2)} KB min; budget ${r.budget / KB} KB)`,
    );
  }
}
if (results.some((r) => r.gzip > r.budget)) process.exitCode = 1;
