// Scenario 7: client library sizes, all built the same way: esbuild bundle + minify for browsers
// (ESM, ES2018), then gzip -9. Libraries missing from node_modules are reported, not installed.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

function version(pkg) {
  try {
    // Read the file directly: packages with an "exports" map may not export package.json.
    return JSON.parse(readFileSync(`${root}/node_modules/${pkg}/package.json`, 'utf8')).version;
  } catch {
    return null;
  }
}

/** jQuery core + ajax (xhr, script, jsonp) from its ES module sources (jQuery 4), else the full build. */
function jqueryEntry() {
  const src = `${root}/node_modules/jquery/src`;
  if (existsSync(`${src}/ajax/xhr.js`) && existsSync(`${src}/core.js`)) {
    return [
      "export { jQuery as default } from 'jquery/src/core.js';",
      "import 'jquery/src/ajax.js';",
      "import 'jquery/src/ajax/xhr.js';",
      "import 'jquery/src/ajax/script.js';",
      "import 'jquery/src/ajax/jsonp.js';",
    ].join('\n');
  }
  return null;
}

function candidates() {
  const list = [
    // The browser build: what `cometa/client` resolves to in a bundle for browsers.
    {
      name: 'cometa/client (whole)',
      entry: 'src/client/browser.ts',
      contents: "export * from './src/client/browser.ts';",
      need: 'src/client/browser.ts',
    },
    {
      name: 'cometa/client request alone',
      entry: 'src/client/browser.ts { request }',
      contents: "export { request } from './src/client/browser.ts';",
      need: 'src/client/browser.ts',
    },
    {
      name: 'axios',
      pkg: 'axios',
      entry: "import axios from 'axios'",
      contents: "export { default } from 'axios';",
    },
    { name: 'ky', pkg: 'ky', entry: "import ky from 'ky'", contents: "export { default } from 'ky';" },
    {
      name: 'superagent',
      pkg: 'superagent',
      entry: "import superagent from 'superagent'",
      contents: "export { default } from 'superagent';",
    },
  ];
  const jq = jqueryEntry();
  list.push(
    jq
      ? {
          name: 'jQuery (core + ajax)',
          pkg: 'jquery',
          entry: 'jquery/src/core.js + ajax, xhr, script, jsonp',
          contents: jq,
        }
      : {
          name: 'jQuery (full)',
          pkg: 'jquery',
          entry: "import $ from 'jquery'",
          contents: "export { default } from 'jquery';",
        },
  );
  return list;
}

export async function clientSizes() {
  const rows = [];
  for (const c of candidates()) {
    const row = { name: c.name, entry: c.entry };
    if (c.pkg) {
      row.version = version(c.pkg);
      if (!row.version) {
        rows.push({ ...row, error: `${c.pkg} not installed` });
        continue;
      }
      row.name = `${c.name} ${row.version}`;
    }
    if (c.need && !existsSync(`${root}/${c.need}`)) {
      rows.push({ ...row, error: `${c.need} does not exist yet` });
      continue;
    }
    try {
      const out = await build({
        stdin: { contents: c.contents, resolveDir: root, loader: 'ts', sourcefile: 'entry.ts' },
        bundle: true,
        minify: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2018',
        write: false,
        logLevel: 'silent',
        define: { 'process.env.NODE_ENV': '"production"' },
      });
      const code = out.outputFiles[0].contents;
      row.minBytes = code.length;
      row.gzipBytes = gzipSync(code, { level: 9 }).length;
    } catch (e) {
      row.error = String(e.message).split('\n')[0];
    }
    rows.push(row);
  }
  return rows;
}
