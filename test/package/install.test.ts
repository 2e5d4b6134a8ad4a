// A new app gets cometa the way the README says, from the packed tarball and from a git URL, and
// runs a hub on the default SQLite store with `cometa/client` from the installed package: publish,
// long-poll, subscribe. The install commands are read from the README's "Install into your app"
// block and run as written (only the package spec is swapped for the tarball or the git URL, and
// the cache flags added), so the README cannot drift from what works.
//
// better-sqlite3's install script fetches a prebuilt binary from its GitHub releases and compiles
// from source when it cannot (minutes). This machine reaches only the npm registry, so the test
// serves the binary the repository's own `npm ci` built, at prebuild-install's documented mirror
// setting (npm_config_better_sqlite3_binary_host); the download an app's machine makes, served
// locally. A version the mirror does not hold gets a 404 and prebuild-install compiles as usual.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'cometa-install-'));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  exports: unknown;
  bin: Record<string, string>;
};
let mirror: Server;
let env: NodeJS.ProcessEnv;

/** The npm commands of the README's install block, in order, comments removed. */
function readmeInstallSteps(readme: string): string[] {
  const section = /^## Install into your app\n([\s\S]*?)^## /m.exec(readme);
  assert.ok(section, 'README.md has no "## Install into your app" section');
  const block = /```sh\n([\s\S]*?)```/.exec(section[1]!);
  assert.ok(block, 'the install section has no ```sh block');
  return block[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line.startsWith('npm '));
}

async function sh(cwd: string, cmd: string, args: string[], stdoutOnly = false): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, env, maxBuffer: 16 << 20 });
    return stdoutOnly ? stdout : stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? e.message}`,
    );
  }
}

/** Runs the README's steps in a fresh app, with SPEC as what `npm install` installs. */
async function installLikeTheReadme(name: string, spec: string): Promise<string> {
  const app = join(tmp, name);
  mkdirSync(app);
  await sh(app, 'npm', ['init', '-y']);
  const steps = readmeInstallSteps(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  assert.ok(steps.length >= 1, 'no npm command in the install block');
  for (const step of steps) {
    const [, sub, ...rest] = step.split(/\s+/);
    const args = sub === 'install' && rest.length === 1 ? [sub, spec] : [sub!, ...rest];
    if (sub === 'install' || sub === 'rebuild') args.push('--prefer-offline', '--no-audit', '--no-fund');
    await sh(app, 'npm', args);
    if (sub === 'install') {
      // Straight after install (npm 11 has not run better-sqlite3's build): the hub says what to do.
      const bin = join(app, 'node_modules/.bin/cometa');
      assert.ok(existsSync(bin), 'the cometa command is not installed');
      if (!existsSync(join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'))) {
        const r = await serveOnce(app, bin);
        assert.match(r, /npm install-scripts approve better-sqlite3/);
        assert.match(r, /--store memory/);
      }
    }
  }
  return app;
}

function serveOnce(cwd: string, bin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['serve', '--port', '0'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      text += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cometa serve neither failed nor stopped in 30 s:\n${text}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) reject(new Error(`cometa serve started without its native module:\n${text}`));
      else resolve(text);
    });
  });
}

// The app a reader of the README writes: a hub on the default store, and the client against it.
const APP = `
import { existsSync } from 'node:fs';
import { createHub } from 'cometa';
import { get, post, subscribe } from 'cometa/client';

const hub = createHub(); // the default store: SQLite in ./.cometa/cometa.db
const { port } = await hub.listen(0, '127.0.0.1');
const url = 'http://127.0.0.1:' + port;

// A long-poll held before anything is published, answered by the publish.
const poll = get(url + '/sub/news.app', { query: { timeout: 20 } });
await new Promise((r) => setTimeout(r, 300));
const published = await post(url + '/pub/news.app', { n: 1 });
const polled = await poll;

// A subscription (the client picks the transport) that then sees the next publish.
const live = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('subscribe: nothing in 20 s')), 20000);
  const sub = subscribe(url, ['news.app'], {
    onStatus: (s) => {
      if (s.state === 'open') post(url + '/pub/news.app', { n: 2 }).catch(reject);
    },
    onMessage: (e) => {
      clearTimeout(timer);
      resolve({ transport: sub.transport, envelope: e });
      sub.close();
    },
  });
});
console.log(JSON.stringify({
  store: hub.store.kind,
  file: existsSync('.cometa/cometa.db'),
  published: published.status,
  polled: polled.data.messages.map((m) => m.data),
  live,
}));
await hub.close();
`;

async function runApp(app: string): Promise<{
  store: string;
  file: boolean;
  published: number;
  polled: unknown[];
  live: { transport: string; envelope: { channel: string; data: unknown } };
}> {
  writeFileSync(join(app, 'app.mjs'), APP);
  const out = await sh(app, process.execPath, ['app.mjs']);
  const line = out.split('\n').find((l) => l.startsWith('{'));
  assert.ok(line, `no result from the app:\n${out}`);
  return JSON.parse(line);
}

function checkApp(r: Awaited<ReturnType<typeof runApp>>): void {
  assert.equal(r.store, 'sqlite');
  assert.equal(r.file, true);
  assert.equal(r.published, 202);
  assert.deepEqual(r.polled, [{ n: 1 }]);
  assert.equal(r.live.envelope.channel, 'news.app');
  assert.deepEqual(r.live.envelope.data, { n: 2 });
}

before(async () => {
  const binding = join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
  const version = (
    JSON.parse(readFileSync(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const stage = join(tmp, 'prebuilt');
  mkdirSync(join(stage, 'build/Release'), { recursive: true });
  writeFileSync(join(stage, 'build/Release/better_sqlite3.node'), readFileSync(binding));
  const asset = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await run('tar', ['-czf', join(tmp, asset), '-C', stage, 'build']);
  mirror = createServer((req, res) => {
    const file = join(tmp, asset);
    if (req.url === `/v${version}/${asset}`) {
      res.writeHead(200, { 'content-type': 'application/gzip' });
      res.end(readFileSync(file));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => mirror.listen(0, '127.0.0.1', resolve));
  const { port } = mirror.address() as AddressInfo;
  // The test runner's own npm_* variables (when started by `npm test`) must not steer the apps' npm.
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  env.NODE_OPTIONS = '';
  env.npm_config_better_sqlite3_binary_host = `http://127.0.0.1:${port}`;
  env.npm_config_update_notifier = 'false';
});
after(() => {
  mirror?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('install into a fresh app, as the README says', { concurrency: false }, () => {
  let tarball = '';

  test('npm pack ships everything exports and bin name, and nothing of the tests', async () => {
    // --ignore-scripts: `prepare` would rebuild dist/ under the tests running beside this one;
    // scripts/test.sh has just built it (the git install below runs `prepare` in its own clone).
    assert.ok(
      existsSync(join(ROOT, 'dist/cometa.min.js')),
      'dist/ is missing: run `node scripts/build.mjs` first',
    );
    const out = await sh(
      ROOT,
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp],
      true,
    );
    const info = JSON.parse(out.slice(out.search(/^\[/m))) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = join(tmp, info[0]!.filename);
    const files = new Set(info[0]!.files.map((f) => f.path));
    // Every path `exports` names, through nested conditions, and the bin.
    const paths = (v: unknown): string[] =>
      typeof v === 'string' ? [v] : v && typeof v === 'object' ? Object.values(v).flatMap(paths) : [];
    const named = [...paths(pkg.exports), ...Object.values(pkg.bin)].map((p) => p.replace(/^\.\//, ''));
    for (const p of named) assert.ok(files.has(p), `the tarball lacks ${p}, which package.json names`);
    for (const p of files) {
      assert.doesNotMatch(
        p,
        /^(test|bench|scripts|src\/.*\.test\.ts)\b|\.test\.|^\.ci\//,
        `the tarball ships ${p}`,
      );
    }
  });

  test('from the tarball: install, approve and rebuild better-sqlite3, run hub and client', async () => {
    assert.ok(tarball, 'npm pack did not run');
    checkApp(await runApp(await installLikeTheReadme('from-tarball', tarball)));
  });

  test('from git (git+file:// of a clone at HEAD): dist/ and the client bundle are built by prepare', async () => {
    const repo = join(tmp, 'repo');
    await sh(tmp, 'git', ['clone', '--quiet', ROOT, repo]);
    const app = await installLikeTheReadme('from-git', `git+file://${repo}`);
    assert.ok(existsSync(join(app, 'node_modules/cometa/dist/cometa.min.js')), 'no client bundle');
    assert.ok(!existsSync(join(app, 'node_modules/cometa/test')), 'the tests were installed');
    checkApp(await runApp(app));
  });
});
