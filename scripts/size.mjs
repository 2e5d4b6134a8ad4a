// `npm run size`: min+gzip sizes of the browser client, measured with esbuild (bundled, minified,
// tree-shaken, the target of dist/cometa.min.js), gzip level 9; exits 1 over budget.
// - request alone: what a browser downloads for `import { request } from 'cometa/client'` in an app
//   bundled with code splitting (as Vite, webpack and Rollup do by default): the chunks loaded at
//   start. The fetch transport (src/client/fetch.ts) is a dynamic import, used only where there is
//   no XMLHttpRequest (Node, service workers): its lazy chunk is shown, not counted.
// - whole client: every export in one file, everything counted (what dist/cometa.min.js holds).
// `--json` prints the measures as JSON (used by test/unit/client-size.test.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const KB = 1024;
const client = JSON.stringify(resolve('src/client/index.ts'));
const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length;

/** Bundles `code`; sums the chunks loaded at start (the entry and its static imports) and the rest. */
async function measure(code, splitting) {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-size-'));
  try {
    writeFileSync(join(dir, 'entry.js'), code);
    const out = await build({
      entryPoints: [join(dir, 'entry.js')],
      outdir: join(dir, 'out'),
      bundle: true,
      splitting,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2019'],
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const outputs = out.metafile.outputs;
    const bytes = new Map(out.outputFiles.map((f) => [f.path, f.contents]));
    const atStart = new Set();
    const visit = (path) => {
      if (atStart.has(path)) return;
      atStart.add(path);
      for (const i of outputs[path].imports)
        if (i.kind === 'import-statement' && outputs[i.path]) visit(i.path);
    };
    visit(Object.keys(outputs).find((path) => outputs[path].entryPoint));
    const r = { min: 0, gzip: 0, lazy: 0 };
    for (const path of Object.keys(outputs)) {
      const b = bytes.get(resolve(path));
      if (atStart.has(path)) {
        r.min += b.length;
        r.gzip += gzip(b);
      } else r.lazy += gzip(b);
    }
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [
  // The whole client leaves room for the Comet subscribe() part that joins the same bundle.
  { name: 'request alone', budget: 3 * KB, ...(await measure(`export { request } from ${client};`, true)) },
  { name: 'whole client', budget: 8 * KB, ...(await measure(`export * from ${client};`, false)) },
];
if (process.argv.includes('--json')) {
  console.log(JSON.stringify(results));
} else {
  for (const r of results) {
    const lazy = r.lazy ? `; + ${(r.lazy / KB).toFixed(2)} KB lazy chunk, loaded only without XHR` : '';
    console.log(
      `${r.gzip <= r.budget ? 'ok  ' : 'OVER'} ${r.name.padEnd(14)} ${(r.gzip / KB).toFixed(2)} KB min+gzip ` +
        `(${(r.min / KB).toFixed(2)} KB min; budget ${r.budget / KB} KB${lazy})`,
    );
  }
}
if (results.some((r) => r.gzip > r.budget)) process.exitCode = 1;
