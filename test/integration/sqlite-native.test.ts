// An app whose better-sqlite3 native module was never built (npm 11 skips a dependency's install
// script until the app approves it): `cometa serve` must stop at start with the commands that fix
// it and the `--store memory` alternative, never with a bare "Could not locate the bindings file".
// The app here is dist/ in a temporary node_modules where better-sqlite3 is a copy without build/.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'cometa-native-'));
const app = join(tmp, 'app');
const main = join(app, 'node_modules/cometa/dist/cli/main.js');

before(() => {
  assert.ok(
    existsSync(join(ROOT, 'dist/cli/main.js')),
    'dist/ is missing: run `node scripts/build.mjs` first',
  );
  const modules = join(app, 'node_modules');
  mkdirSync(join(modules, 'cometa'), { recursive: true });
  cpSync(join(ROOT, 'dist'), join(modules, 'cometa/dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(modules, 'cometa/package.json'));
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name === 'better-sqlite3' || name === '.bin' || name.startsWith('.')) continue;
    symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
  cpSync(join(ROOT, 'node_modules/better-sqlite3'), join(modules, 'better-sqlite3'), {
    recursive: true,
    filter: (src) => !src.includes('/better-sqlite3/build'),
  });
  assert.ok(!existsSync(join(modules, 'better-sqlite3/build')));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function serve(args: string[]): Promise<{ code: number | null; out: string; err: string; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, 'serve', '--port', '0', ...args], {
      cwd: app,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let url = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no exit and no listening line in 60 s:\n${out}\n${err}`));
    }, 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m && url === '') {
        url = m[1]!;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, url });
    });
  });
}

test('the default SQLite store without its native module: exit 1 with the fix and --store memory', async () => {
  const r = await serve([]);
  assert.equal(r.url, '', `the hub started:\n${r.out}`);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /better-sqlite3's native module is not built/);
  assert.match(r.err, /npm install-scripts approve better-sqlite3/);
  assert.match(r.err, /npm rebuild better-sqlite3/);
  assert.match(r.err, /--store memory/);
  assert.doesNotMatch(r.err, /^\s+at /m, 'a stack trace instead of a message');
});

test('the same app runs with --store memory', async () => {
  const r = await serve(['--store', 'memory']);
  assert.match(r.url, /^http:\/\/127\.0\.0\.1:\d+$/, r.err);
});
