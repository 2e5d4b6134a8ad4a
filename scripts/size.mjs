// `npm run size`: min+gzip sizes of the browser client (gzip level 9), measured two ways; exits 1
// over budget.
// - esbuild (bundled, minified, tree-shaken; what dist/cometa.min.js is built with):
//   - request alone: `export { request }`, what `import { request } from 'cometa/client'` costs.
//   - whole client: every export (what dist/cometa.min.js holds).
// - Vite (a production app build, Vite's defaults) of small apps that use: `get` alone; `subscribe`
//   with every transport; `subscribe` with `transports: ['sse']` (the option names transports, so
//   all are bundled); `subscribeWith({ sse: sseTransport })` (only SSE is); the whole client. Every
//   chunk the build emits is counted (a helper Vite injects, such as its preload helper, included).
// Both resolve `cometa/client` as browsers' bundlers do (the `browser` export condition):
// src/client/browser.ts, requests on XMLHttpRequest without the fetch fallback.
// `--json` prints the measures as JSON (used by test/unit/client-size.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';

const KB = 1024;
const entry = resolve('src/client/browser.ts');
const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length;

/** Runs `fn(dir)` with a fresh temporary directory, removed afterwards. */
async function inTemp(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-size-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** esbuild: bundles `code` (one file, no splitting). */
const esbuildMeasure = (code) =>
  inTemp(async (dir) => {
    writeFileSync(join(dir, 'entry.js'), code.replace('cometa/client', entry));
    const out = await build({
      entryPoints: [join(dir, 'entry.js')],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2019'],
      write: false,
      logLevel: 'silent',
    });
    const b = out.outputFiles[0].contents;
    return { tool: 'esbuild', min: b.length, gzip: gzip(b), chunks: out.outputFiles.length };
  });

/** Vite: a production build of an app whose entry is `code`; every JS chunk counted. */
const viteMeasure = (code) =>
  inTemp(async (dir) => {
    writeFileSync(join(dir, 'main.js'), code);
    const result = await viteBuild({
      root: dir,
      configFile: false,
      logLevel: 'silent',
      resolve: { alias: { 'cometa/client': entry } },
      build: { write: false, rollupOptions: { input: join(dir, 'main.js') } },
    });
    const chunks = (Array.isArray(result) ? result : [result])
      .flatMap((r) => r.output)
      .filter((o) => o.type === 'chunk');
    const r = { tool: 'vite', min: 0, gzip: 0, chunks: chunks.length };
    for (const c of chunks) {
      const b = Buffer.from(c.code);
      r.min += b.length;
      r.gzip += gzip(b);
    }
    return r;
  });

const results = [
  // The whole client leaves room for the Comet subscribe() part that joins the same bundle.
  // request alone and `get` grew by what adding an Idempotency-Key to a retried POST or PATCH costs
  // (measured: +108 B with esbuild, +95 B with Vite); the budgets grew by that much and no more.
  {
    name: 'request alone',
    budget: 3 * KB + 108,
    ...(await esbuildMeasure("export { request } from 'cometa/client';")),
  },
  { name: 'whole client', budget: 8 * KB, ...(await esbuildMeasure("export * from 'cometa/client';")) },
  {
    name: 'vite: get',
    budget: 3 * KB + 95,
    ...(await viteMeasure(
      "import { get } from 'cometa/client';\nget('/api').then((r) => console.log(r.data));",
    )),
  },
  {
    name: 'vite: subscribe',
    budget: 4 * KB,
    ...(await viteMeasure(
      "import { subscribe } from 'cometa/client';\nsubscribe('/hub', 'a', { onMessage: console.log });",
    )),
  },
  {
    name: 'vite: subscribe sse',
    budget: 4 * KB,
    ...(await viteMeasure(
      "import { subscribe } from 'cometa/client';\nsubscribe('/hub', 'a', { transports: ['sse'], onMessage: console.log });",
    )),
  },
  {
    name: 'vite: subscribeWith sse',
    budget: 2.5 * KB,
    ...(await viteMeasure(
      "import { sseTransport, subscribeWith } from 'cometa/client';\nsubscribeWith({ sse: sseTransport }, '/hub', 'a', { onMessage: console.log });",
    )),
  },
  {
    name: 'vite: whole client',
    budget: 8 * KB,
    ...(await viteMeasure("import * as cometa from 'cometa/client';\nglobalThis.cometa = cometa;")),
  },
];
if (process.argv.includes('--json')) {
  console.log(JSON.stringify(results));
} else {
  for (const r of results) {
    console.log(
      `${r.gzip <= r.budget ? 'ok  ' : 'OVER'} ${r.name.padEnd(24)} ${(r.gzip / KB).toFixed(2)} KB min+gzip ` +
        `(${(r.min / KB).toFixed(2)} KB min, ${r.chunks} chunk${r.chunks > 1 ? 's' : ''}; budget ${+(r.budget / KB).toFixed(2)} KB)`,
    );
  }
}
if (results.some((r) => r.gzip > r.budget)) process.exitCode = 1;
