// `cometa serve` as a real process: graceful shutdown on SIGTERM/SIGINT with streams open,
// configuration precedence (flags > env > file > defaults) and start-up validation naming the field.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveServeConfig, SETTINGS } from '../../src/cli/settings.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/cli/main.ts');
// The child runs in a temp dir (its ./.cometa data dir must not land in the repo): load tsx by URL.
const TSX = import.meta.resolve('tsx');
const tmp = mkdtempSync(join(tmpdir(), 'cometa-cli-'));
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

interface Running {
  child: ChildProcess;
  url: string;
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `cometa ARGS` from source (tsx) and, for `serve`, waits for the listening line. */
function run(args: string[], env: Record<string, string> = {}, waitListening = true): Promise<Running> {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    // Its own working directory: the default SQLite store (./.cometa) allows one hub per file.
    cwd: mkdtempSync(join(tmp, 'run-')),
    env: { ...process.env, ...env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return new Promise((resolve, reject) => {
    const base = { child, out: () => out, err: () => err, exit };
    if (!waitListening) return resolve({ ...base, url: '' });
    const timer = setTimeout(() => reject(new Error(`no listening line in 90 s:\n${out}\n${err}`)), 90_000);
    const onData = () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve({ ...base, url: m[1]! });
      }
    };
    child.stdout!.on('data', onData);
    exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`exited before listening:\n${out}\n${err}`));
    });
  });
}

/** Opens an SSE stream and collects its text; resolves once the `open` frame arrived. */
function openSse(url: string): Promise<{ res: IncomingMessage; text: () => string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no open frame from ${url} in 30 s`)), 30_000);
    const req = get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      let text = '';
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('close', done);
        res.on('error', () => done());
      });
      res.on('data', (d: Buffer) => {
        text += d;
        if (text.includes('event: cometa.open')) {
          clearTimeout(timer);
          resolve({ res, text: () => text, ended });
        }
      });
    });
    req.on('error', reject);
  });
}

describe('cometa serve: graceful shutdown', { concurrency: true }, () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} with an SSE stream open: the stream gets the close frame, the process exits 0`, async () => {
      const hub = await run(['serve', '--port', '0', '--log-level', 'info']);
      const stream = await openSse(`${hub.url}/sub/news`);
      // A long-poll held at the same moment must be answered too, not cut.
      const poll = fetch(`${hub.url}/sub/news?transport=longpoll&timeout=30`).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      }));
      // Wait until the hub holds both (on a loaded machine the poll may take a while to arrive).
      for (let i = 0; i < 100; i++) {
        const info = (await (await fetch(`${hub.url}/pub/news`)).json()) as { subscribers: number };
        if (info.subscribers >= 2) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const t0 = Date.now();
      hub.child.kill(signal);
      await stream.ended;
      const text = stream.text();
      assert.match(text, /event: close\n/, 'close frame written before the stream ended');
      const close = /event: close\ndata: (.*)\n/.exec(text);
      assert.equal(JSON.parse(close![1]!).reason, 'shutdown');
      const answered = await poll;
      assert.ok(answered.status < 500 || answered.status === 503, `long-poll answered ${answered.status}`);
      const { code, signal: killedBy } = await hub.exit;
      assert.equal(killedBy, null);
      assert.equal(code, 0, hub.err());
      assert.ok(Date.now() - t0 < 20_000, 'shut down promptly (generous: the machine may be loaded)');
      assert.match(hub.out(), /"signal":"SIG(TERM|INT)","msg":"shutting down"/);
    });
  }
});

describe('cometa serve: configuration', { concurrency: true }, () => {
  test('precedence: flags > environment > config file > defaults (unit)', () => {
    const file = { port: 1001, heartbeatMs: 111, limits: { maxBatch: 5, maxBodyBytes: 77 }, prefix: '/file' };
    const env = { COMETA_PORT: '1002', COMETA_HEARTBEAT_MS: '222', COMETA_MAX_BATCH: '6' };
    const flags = { port: '1003', 'max-batch': '7' };
    const r = resolveServeConfig(file, env, flags);
    assert.equal(r.port, 1003);
    assert.equal(r.options.heartbeatMs, 222, 'env beats file');
    assert.equal(r.options.limits?.maxBatch, 7, 'flag beats env');
    assert.equal(r.options.limits?.maxBodyBytes, 77, 'file value kept beside overridden siblings');
    assert.equal(r.options.prefix, '/file');
    const defaults = resolveServeConfig({}, {}, {});
    assert.deepEqual([defaults.port, defaults.host, defaults.logLevel], [8080, '127.0.0.1', 'info']);
    assert.deepEqual(
      resolveServeConfig({}, { COMETA_CORS_ORIGINS: 'https://a.test, https://b.test' }, {}).options.cors,
      {
        origins: ['https://a.test', 'https://b.test'],
      },
    );
    // Booleans: env words, flags and --no- negations.
    assert.equal(resolveServeConfig({ metrics: true }, { COMETA_METRICS: 'off' }, {}).options.metrics, false);
    assert.equal(resolveServeConfig({}, { COMETA_METRICS: 'off' }, { metrics: true }).options.metrics, true);
    const demo = resolveServeConfig({}, {}, { demo: true, 'no-feed': true }).options;
    assert.equal(demo.demoFeed, false);
    assert.equal(resolveServeConfig({}, { COMETA_DEMO: '1' }, {}).options.demoFeed, true);
    assert.ok(
      demo.channels?.some((r) => r.pattern === 'clicks.*' && r.ping === true),
      'demo enables clicks.* pings',
    );
  });

  test('errors name the flag, the variable or the field', () => {
    assert.throws(() => resolveServeConfig({}, {}, { port: 'abc' }), /--port must be an integer/);
    assert.throws(
      () => resolveServeConfig({}, { COMETA_HEARTBEAT_MS: '1.5' }, {}),
      /COMETA_HEARTBEAT_MS must be an integer/,
    );
    assert.throws(
      () => resolveServeConfig({}, { COMETA_METRICS: 'maybe' }, {}),
      /COMETA_METRICS must be true or false/,
    );
    assert.throws(
      () => resolveServeConfig({ port: 70000 }, {}, {}),
      /port must be an integer from 0 to 65535/,
    );
    assert.throws(() => resolveServeConfig({ logLevel: 'loud' }, {}, {}), /logLevel must be one of/);
  });

  test('a real process runs with the winning value: file prefix < env < flag', async () => {
    const config = join(tmp, 'prefix.yaml');
    writeFileSync(config, 'prefix: /from-file\nport: 0\nlimits:\n  maxBatch: 3\n');
    const hub = await run(['serve', '--config', config, '--prefix', '/from-flag'], {
      COMETA_PREFIX: '/from-env',
    });
    try {
      assert.equal((await fetch(`${hub.url}/from-flag/healthz`)).status, 200);
      assert.equal((await fetch(`${hub.url}/from-env/healthz`)).status, 404);
      assert.equal((await fetch(`${hub.url}/from-file/healthz`)).status, 404);
    } finally {
      hub.child.kill('SIGTERM');
      assert.equal((await hub.exit).code, 0);
    }
    const envOnly = await run(['serve', '--config', config], { COMETA_PREFIX: '/from-env' });
    try {
      assert.equal((await fetch(`${envOnly.url}/from-env/healthz`)).status, 200);
    } finally {
      envOnly.child.kill('SIGTERM');
      await envOnly.exit;
    }
  });

  test('invalid configuration stops the start with exit 1 and names the field', async () => {
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ limits: { maxBatch: 0 } }));
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['serve', '--config', bad, '--port', '0'], {}, /options\.limits\.maxBatch must be an integer/],
      [
        ['serve', '--port', '0'],
        { COMETA_LONGPOLL_TIMEOUT: 'soon' },
        /COMETA_LONGPOLL_TIMEOUT must be an integer/,
      ],
      [['serve', '--port', '0', '--max-body-bytes=0'], {}, /options\.limits\.maxBodyBytes/],
    ];
    const unknown = join(tmp, 'unknown.yaml');
    writeFileSync(unknown, 'bogus: 1\n');
    cases.push([['serve', '--config', unknown, '--port', '0'], {}, /options\.bogus is not a known option/]);
    // In parallel: each is a whole process start.
    await Promise.all(
      cases.map(async ([args, env, pattern]) => {
        const p = await run(args, env, false);
        const { code } = await p.exit;
        assert.equal(code, 1, `${args.join(' ')} should fail`);
        assert.match(p.err(), pattern);
      }),
    );
  });

  test('--demo runs the simulated feed; --no-feed turns it off', async () => {
    const demo = await run(['serve', '--port', '0', '--demo']);
    const quiet = await run(['serve', '--port', '0', '--demo', '--no-feed']);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const a = (await (await fetch(`${demo.url}/pub/quotes.AAPL`)).json()) as { stored: number };
      const b = (await (await fetch(`${quiet.url}/pub/quotes.AAPL`)).json()) as { stored: number };
      assert.ok(a.stored >= 1, 'the feed published quotes');
      assert.equal(b.stored, 0, '--no-feed published nothing');
      assert.equal((await fetch(`${quiet.url}/`)).status, 200, 'demo page still served');
      assert.match(demo.out(), /SIMULATED feed on/);
    } finally {
      demo.child.kill('SIGTERM');
      quiet.child.kill('SIGTERM');
      assert.equal((await demo.exit).code, 0);
      assert.equal((await quiet.exit).code, 0);
    }
  });

  test('docs/configuration.md lists every setting with its variable and flag', () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    for (const s of SETTINGS) {
      assert.ok(doc.includes(`\`${s.env}\``), `${s.env} documented`);
      assert.ok(
        doc.includes(s.kind === 'bool' ? `--[no-]${s.flag}` : `--${s.flag} `),
        `--${s.flag} documented`,
      );
      assert.ok(doc.includes(`\`${s.path}\``), `${s.path} documented`);
    }
  });
});

/** A loopback port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('cometa: version, unknown commands, refusals and unreachable hubs', { concurrency: true }, () => {
  test('--version prints the package version', async () => {
    const r = await run(['--version'], {}, false);
    assert.equal((await r.exit).code, 0);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(r.out().trim(), pkg.version);
  });

  test('an unknown command says so before the usage, exit 2', async () => {
    const r = await run(['frob'], {}, false);
    assert.equal((await r.exit).code, 2);
    assert.match(r.err(), /^cometa: unknown command 'frob'\n[\s\S]*Usage:/);
  });

  test('publish to an address where nothing listens names the address and ECONNREFUSED', async () => {
    const port = await freePort();
    const r = await run(['publish', `http://127.0.0.1:${port}`, 'news', '{}'], {}, false);
    assert.equal((await r.exit).code, 1);
    assert.match(r.err(), new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port} \\(connect ECONNREFUSED`));
    assert.doesNotMatch(r.err(), /fetch failed/);
  });

  test('subscribe stops on a permanent refusal with the hub error code (400, 401)', async () => {
    const open = await run(['serve', '--port', '0', '--store', 'memory']);
    const secured = await run(['serve', '--port', '0', '--store', 'memory', '--auth-key', 'k'.repeat(32)]);
    try {
      for (const [url, channel, code] of [
        [open.url, 'bad..channel', /400 ERR_BAD_CHANNEL/],
        [secured.url, 'news', /401 ERR_UNAUTHORIZED/],
      ] as const) {
        const r = await run(['subscribe', url, channel], {}, false);
        const exit = await Promise.race([r.exit, sleep(15_000).then(() => 'still running' as const)]);
        if (exit === 'still running') {
          r.child.kill('SIGKILL');
          assert.fail(`subscribe kept retrying:\n${r.err()}`);
        }
        assert.equal(exit.code, 1);
        assert.match(r.err(), code);
        assert.doesNotMatch(r.err(), /retrying/);
      }
    } finally {
      open.child.kill('SIGTERM');
      secured.child.kill('SIGTERM');
    }
  });

  test('an unreachable Redis is named once (host:port and cause), without a stack', async () => {
    const port = await freePort();
    const r = await run(['serve', '--port', '0', '--store', `redis://127.0.0.1:${port}/0`], {}, false);
    assert.equal((await r.exit).code, 1);
    const text = r.out() + r.err();
    assert.equal(text.match(/cannot reach 127\.0\.0\.1:\d+/g)?.length, 1, text);
    assert.match(text, /ECONNREFUSED/);
    assert.doesNotMatch(text, /\n\s+at |\\n\s+at /, 'a stack trace');
  });
});
