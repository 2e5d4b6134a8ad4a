/**
 * The client-only package (packages/cometa-client, built by scripts/build.mjs) installed the
 * documented way into a fresh app: `npm pack`, then `npm install <tarball>`. The app's
 * node_modules holds that package and nothing else (no server dependency, nothing compiled), the
 * client works from it in Node against a real hub (Ajax, publish, subscribe), its types compile in a
 * strict app without skipLibCheck, and a Vite build of a browser app resolves the browser build:
 * one chunk, no preload helper, no fetch transport.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { build } from 'vite';
import { startHub, type TestHub } from '../helpers/hub.js';

const PACKAGE = resolve('packages/cometa-client');
const npm = (cwd: string, ...args: string[]) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' });

describe('cometa-client installed alone into a fresh app', () => {
  let dir: string;
  let app: string;
  let t: TestHub;
  before(async () => {
    assert.ok(existsSync(join(PACKAGE, 'dist/client/index.js')), 'built (node scripts/build.mjs)');
    dir = mkdtempSync(join(tmpdir(), 'cometa-client-app-'));
    const tarball = npm(PACKAGE, 'pack', '--pack-destination', dir).trim().split('\n').at(-1)!;
    app = join(dir, 'app');
    execFileSync('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    npm(app, 'install', '--prefer-offline', join(dir, tarball));
    t = await startHub();
  });
  after(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has the version of the hub package and no dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8'));
    assert.equal(pkg.version, JSON.parse(readFileSync('package.json', 'utf8')).version);
    assert.equal(pkg.dependencies, undefined);
    // The same entry points as cometa/client, by the same export conditions.
    const hub = JSON.parse(readFileSync('package.json', 'utf8'));
    assert.deepEqual(pkg.exports['.'], hub.exports['./client']);
    assert.deepEqual(pkg.exports['./universal'], hub.exports['./client/universal']);
    assert.deepEqual(Object.keys(hub.exports['./client']), ['types', 'browser', 'default']);
  });

  it('node_modules holds the client and nothing else', () => {
    const names = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
    assert.deepEqual(names, ['cometa-client']);
    const files = readdirSync(join(app, 'node_modules/cometa-client/dist'), { recursive: true }).map(String);
    assert.ok(files.includes('client/index.js') && files.includes('cometa.min.js'));
    assert.ok(!files.some((f) => /^(hub|cli)\b/.test(f)), 'no server code');
    assert.ok(!files.some((f) => /\.node$/.test(f)), 'nothing native');
  });

  it('works in Node against a hub: publish, long-poll, subscribe', async () => {
    writeFileSync(
      join(app, 'main.js'),
      `import { get, post, subscribe } from 'cometa-client';
const hub = process.argv[2];
const got = [];
const sub = subscribe(hub, 'app.news', { transports: ['sse'], onMessage: (e) => got.push(e.data) });
await new Promise((r) => sub.on('status', (s) => s.state === 'open' && r()));
const { data: published } = await post(hub + '/pub/app.news', { n: 1 });
const { data: poll } = await get(hub + '/sub/app.news', { query: { since: '', mode: 'poll', last: 1 } });
while (!got.length) await new Promise((r) => setTimeout(r, 20));
sub.close();
console.log(JSON.stringify({ published, poll, got, state: sub.state }));
`,
    );
    // Asynchronously: the hub runs in this process.
    const run = await promisify(execFile)(process.execPath, ['main.js', t.url], {
      cwd: app,
      timeout: 60_000,
    });
    const out = JSON.parse(run.stdout);
    assert.match(out.published.id, /^\w+-\d+$/);
    assert.deepEqual(
      out.poll.messages.map((m: { id: string }) => m.id),
      [out.published.id],
    );
    assert.deepEqual(out.got, [{ n: 1 }]);
    assert.equal(out.state, 'closed');
  });

  it("its types compile in a strict browser app's TypeScript project, libraries checked too", async () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'bundler',
          lib: ['ES2022', 'DOM'],
          types: [],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          skipLibCheck: false,
        },
        include: ['app.ts'],
      }),
    );
    writeFileSync(
      join(app, 'app.ts'),
      `import { type Envelope, get, isHTTPError, subscribe } from 'cometa-client';
interface Quote { price: number }
const sub = subscribe<Quote>(new URL('https://hub.example.com'), ['a', 'b'] as const, {
  since: localStorage.getItem('cursor'),
  onMessage: (e) => e.data.price,
  onError: (e) => isHTTPError(e) && e.status,
});
subscribe('/hub', 'a', { onMessage: (e: Envelope<Quote>) => e.data.price });
get<Quote>('/quote').then((r) => r.data.price);
sub.close();
`,
    );
    const tsc = resolve('node_modules/typescript/bin/tsc');
    await promisify(execFile)(process.execPath, [tsc, '-p', '.'], { cwd: app, timeout: 120_000 });
  });

  it('a Vite build for browsers takes the browser build: one chunk, no preload helper, no fetch transport', async () => {
    writeFileSync(
      join(app, 'web.js'),
      "import { get } from 'cometa-client';\nget('/api').then((r) => console.log(r.data));\n",
    );
    const result = await build({
      root: app,
      configFile: false,
      logLevel: 'silent',
      build: { write: false, rollupOptions: { input: join(app, 'web.js') } },
    });
    const chunks = (Array.isArray(result) ? result : [result])
      .flatMap((r) => ('output' in r ? r.output : []))
      .filter((o) => o.type === 'chunk');
    assert.equal(chunks.length, 1);
    const code = chunks[0]!.code;
    assert.match(code, /XMLHttpRequest/);
    assert.doesNotMatch(code, /modulepreload|__vitePreload|getReader/);
  });
});
