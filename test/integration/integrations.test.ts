// The examples/ folder, run for real: the hub mounted in Express and in Fastify (HTTP transports,
// WebSocket upgrades, publishing from application code, graceful shutdown), and nginx in front of a
// hub with examples/nginx.conf (streams must arrive promptly, i.e. unbuffered).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { subscribe } from '../../src/client/index.js';
import { sleep, startHub, waitFor } from '../helpers/hub.js';
import { startRedis } from '../helpers/redis.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const TSX = import.meta.resolve('tsx');
// Debian's nginx (scripts/system-deps.sh installs it); /usr/sbin may not be on a non-root PATH.
const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const ALIAS = new URL('../helpers/cometa-alias.mjs', import.meta.url).href;
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** A child process started by `spawnUntil`, with its output so far. */
interface Started {
  child: ChildProcess;
  /** The first capture group of `ready` (e.g. the URL it listens on). */
  url: string;
  exit: Promise<number | null>;
  log: () => string;
}

/**
 * Spawns `node --import tsx ARGS` from the repo root and resolves once its stdout matches `ready`;
 * rejects if it exits first or takes 90 s. Shared by the examples and the CLI.
 */
function spawnUntil(
  what: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<Started> {
  const child = spawn(process.execPath, ['--import', TSX, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let log = '';
  child.stdout!.on('data', (d: Buffer) => {
    log += d;
  });
  child.stderr!.on('data', (d: Buffer) => {
    log += d;
  });
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 90 s:\n${log}`)), 90_000);
    child.stdout!.on('data', () => {
      const m = ready.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] ?? '', exit, log: () => log });
      }
    });
    exit.then(() => reject(new Error(`${what} exited:\n${log}`)));
  });
}

/** Runs an example as its own process; resolves with its URL once it prints `listening on URL`. */
const runExample = (file: string) =>
  spawnUntil(
    file,
    ['--import', ALIAS, join(ROOT, 'examples', file)],
    { PORT: '0' },
    /listening on (http:\/\/\S+)/,
  );

/** Runs `cometa ARGS` (from source) and resolves once it logs its URL. */
const runCli = (args: string[], env: Record<string, string>) =>
  spawnUntil('cometa', [join(ROOT, 'src/cli/main.ts'), ...args], env, /"url":"(http[^"]+)"/);

/** An SSE stream that records envelopes and when each arrived. */
function sseClient(url: string) {
  let text = '';
  let ended = false;
  const arrivals: { at: number; data: { channel?: string; data?: unknown; reason?: string } }[] = [];
  const req = get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      text += d;
      let i = text.indexOf('\n\n');
      while (i !== -1) {
        const block = text.slice(0, i);
        text = text.slice(i + 2);
        const data = /^data: (.*)$/m.exec(block);
        if (data) arrivals.push({ at: Date.now(), data: JSON.parse(data[1]!) });
        i = text.indexOf('\n\n');
      }
    });
    res.on('close', () => {
      ended = true;
    });
  });
  req.on('error', () => {
    ended = true;
  });
  return {
    arrivals,
    opened: () => arrivals.some((a) => (a.data as { event?: string }).event === 'open'),
    messages: () => arrivals.filter((a) => a.data.channel !== undefined),
    ended: () => ended,
    close: () => req.destroy(),
  };
}

/** A chunked NDJSON stream (XHR streaming) that records parsed lines as they arrive. */
function ndjsonClient(url: string) {
  const lines: { channel?: string; event?: string }[] = [];
  let buf = '';
  const req = get(url, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      let i = buf.indexOf('\n');
      while (i !== -1) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line !== '') lines.push(JSON.parse(line));
        i = buf.indexOf('\n');
      }
    });
  });
  req.on('error', () => {});
  return { lines, close: () => req.destroy() };
}

function wsClient(url: string) {
  const frames: { channel?: string; event?: string; data?: unknown }[] = [];
  const ws = new WebSocket(url);
  ws.on('message', (d) => frames.push(JSON.parse(String(d))));
  ws.on('error', () => {});
  return { ws, frames };
}

async function order(base: string, item: string): Promise<{ ok: boolean; id: string }> {
  const res = await fetch(`${base}/api/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ item, qty: 2 }),
  });
  assert.equal(res.status, 201);
  return (await res.json()) as { ok: boolean; id: string };
}

for (const example of ['express.mjs', 'fastify.mjs']) {
  describe(`examples/${example}`, () => {
    test('serves every transport under its prefix, takes app publishes, upgrades WebSockets, shuts down gracefully', async () => {
      const app = await runExample(example);
      const wsUrl = `${app.url.replace('http', 'ws')}/live/sub/orders.new`;
      const sse = sseClient(`${app.url}/live/sub/orders.new`);
      const stream = ndjsonClient(`${app.url}/live/sub/orders.new?transport=stream`);
      const ws = wsClient(wsUrl);
      await waitFor(
        () => sse.opened() && stream.lines.length > 0 && ws.frames.length > 0,
        10_000,
        'subscribers open',
      );
      const poll = fetch(`${app.url}/live/sub/orders.new?transport=longpoll&timeout=10`).then((r) =>
        r.json(),
      );

      // Publishing from application code (the app's own route calls hub.publish).
      const placed = await order(app.url, 'pen');
      assert.match(placed.id, /^[a-z0-9]+-\d+$/);
      // And through the hub's own HTTP publish route, mounted under the prefix.
      const direct = await fetch(`${app.url}/live/pub/orders.new?event=order`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ item: 'ink', qty: 1 }),
      });
      assert.equal(direct.status, 202);

      await waitFor(
        () =>
          sse.messages().length === 2 &&
          stream.lines.filter((l) => l.channel).length === 2 &&
          ws.frames.filter((f) => f.channel).length === 2,
        10_000,
        'both messages on SSE, XHR stream and WebSocket',
      );
      assert.deepEqual(
        sse.messages().map((m) => m.data.data),
        [
          { item: 'pen', qty: 2 },
          { item: 'ink', qty: 1 },
        ],
      );
      const polled = (await poll) as { messages: { id: string; data: unknown }[] };
      assert.equal(polled.messages[0]!.id, placed.id, 'the held long-poll answered with the app publish');

      // The app's own routes still work beside the hub (the hub passes them on).
      const home = await fetch(`${app.url}/`);
      assert.equal(home.status, 200);
      assert.equal((await fetch(`${app.url}/live/sub/orders.new?transport=nope`)).status, 400);

      app.child.kill('SIGTERM');
      await waitFor(() => sse.ended(), 10_000, 'SSE closed by the shutdown');
      assert.equal(sse.arrivals.at(-1)?.data.reason, 'shutdown', 'SSE got the close frame');
      assert.equal(await app.exit, 0, app.log());
      stream.close();
      ws.ws.terminate();
    });
  });
}

/** A free loopback port (nginx needs a number in its config). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('examples/nginx.conf', () => {
  test('nginx -t accepts the example as written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cometa-nginx-t-'));
    mkdirSync(join(dir, 'logs'));
    const conf = join(dir, 'nginx.conf');
    // Only what a test run cannot do as written: bind port 80 and write the system log/pid.
    writeFileSync(
      conf,
      `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\n${readFileSync(join(ROOT, 'examples/nginx.conf'), 'utf8').replace('listen 80;', 'listen 127.0.0.1:1;')}`,
    );
    const r = spawnSync(NGINX, ['-t', '-p', dir, '-c', conf], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  /** Starts Debian's nginx on a loopback port with examples/nginx.conf (after `edit`) in front of `hubPort`. */
  async function startNginx(hubPort: number | number[], edit: (conf: string) => string = (c) => c) {
    const upstreams = (Array.isArray(hubPort) ? hubPort : [hubPort])
      .map((p) => `server 127.0.0.1:${p} max_fails=1 fail_timeout=30s;`)
      .join(' ');
    const dir = mkdtempSync(join(tmpdir(), 'cometa-nginx-'));
    mkdirSync(join(dir, 'logs'));
    const port = await freePort();
    const example = edit(readFileSync(join(ROOT, 'examples/nginx.conf'), 'utf8'));
    assert.match(example, /server 127\.0\.0\.1:8080;/);
    const http = example
      .replace('server 127.0.0.1:8080;', upstreams)
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
      .replace(
        'http {',
        `http {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;`,
      );
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      `daemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n${http}`,
    );
    const nginx = spawn(NGINX, ['-p', dir, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(nginx);
    let nginxLog = '';
    nginx.stderr!.on('data', (d: Buffer) => {
      nginxLog += d;
    });
    const nginxExit = new Promise((r) => nginx.once('exit', r));
    const base = `http://127.0.0.1:${port}`;
    const stop = async () => {
      nginx.kill('SIGTERM');
      await nginxExit;
      children.delete(nginx);
    };
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${base}/healthz`)).status === 200) break;
      } catch {}
      if (i > 100) {
        await stop();
        throw new Error(`nginx did not come up:\n${nginxLog}`);
      }
      await sleep(50);
    }
    return { base, port, stop };
  }

  test('SSE, XHR streaming, long-poll and WebSocket through nginx arrive promptly', async () => {
    const h = await startHub({ heartbeatMs: 60_000 });
    const { base, port, stop } = await startNginx(h.port);
    try {
      const sse = sseClient(`${base}/sub/px.news`);
      const stream = ndjsonClient(`${base}/sub/px.news?transport=stream`);
      const ws = wsClient(`ws://127.0.0.1:${port}/sub/px.news`);
      await waitFor(
        () => sse.opened() && stream.lines.length > 0 && ws.frames.length > 0,
        10_000,
        'open through nginx',
      );
      const poll = fetch(`${base}/sub/px.news?transport=longpoll&timeout=10`).then((r) => r.json());
      await waitFor(() => h.hub.core.subscriberCount('px.news') === 4, 5000, 'four subscribers at the hub');

      // Small messages one at a time: a buffering proxy would hold them (no heartbeat to flush).
      for (let n = 1; n <= 3; n++) {
        const sent = Date.now();
        const res = await fetch(`${base}/pub/px.news`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ n }),
        });
        assert.equal(res.status, 202);
        await waitFor(
          () =>
            sse.messages().length === n &&
            stream.lines.filter((l) => l.channel).length === n &&
            ws.frames.filter((f) => f.channel).length === n,
          5000,
          `message ${n} through nginx on SSE, stream and WebSocket`,
        );
        const latency = sse.messages()[n - 1]!.at - sent;
        // Unbuffered means now; a buffering proxy holds small messages indefinitely (see the control).
        assert.ok(latency < 2500, `SSE message ${n} arrived in ${latency} ms`);
      }
      const polled = (await poll) as { messages: { data: unknown }[] };
      assert.deepEqual(polled.messages[0]!.data, { n: 1 });
      sse.close();
      stream.close();
      ws.ws.terminate();
    } finally {
      await stop();
      await h.close();
    }
  });

  test('trustProxy behind nginx: the fast lane takes proxied publishes and polls, the limits count each client', async () => {
    // nginx connects to the hub from 127.0.0.1; its clients come from other loopback addresses.
    const h = await startHub({ trustProxy: ['127.0.0.1'], limits: { maxConnectionsPerIp: 5 } });
    const { base, port, stop } = await startNginx(h.port);
    const metric = async (name: string) => {
      const text = await (await fetch(`${h.url}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    };
    const streams: { close(): void }[] = [];
    try {
      const publishes = await metric('cometa_fast_publishes_total');
      for (let n = 1; n <= 5; n++) {
        const res = await fetch(`${base}/pub/px.fast`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ n }),
        });
        assert.equal(res.status, 202, await res.text());
      }
      assert.equal(
        await metric('cometa_fast_publishes_total'),
        publishes + 5,
        'proxied publishes in the lane',
      );
      const polls = await metric('cometa_fast_polls_total');
      const polled = await fetch(`${base}/sub/px.fast?last=5&mode=poll`);
      assert.equal(polled.status, 200);
      assert.equal(((await polled.json()) as { messages: unknown[] }).messages.length, 5);
      assert.equal(await metric('cometa_fast_polls_total'), polls + 1, 'a proxied poll in the lane');

      /** An SSE request through nginx from `from`: its status once the head arrives. */
      const stream = (from: string) =>
        new Promise<number>((resolve) => {
          const req = get(
            {
              host: '127.0.0.1',
              port,
              path: '/sub/px.limit',
              localAddress: from,
              agent: false,
              headers: { accept: 'text/event-stream' },
            },
            (res) => {
              resolve(res.statusCode ?? 0);
              res.resume();
            },
          );
          req.on('error', () => resolve(0));
          streams.push({ close: () => req.destroy() });
        });
      for (let i = 0; i < 5; i++) assert.equal(await stream('127.0.0.2'), 200, `stream ${i + 1}`);
      // One client's sixth is over its limit; another client's is not.
      assert.equal(await stream('127.0.0.2'), 503);
      assert.equal(await stream('127.0.0.3'), 200);
      await waitFor(() => h.hub.core.subscriberCount('px.limit') === 6, 5000, 'six streams at the hub');
    } finally {
      for (const s of streams) s.close();
      await stop();
      await h.close();
    }
  });

  test('examples/multi-hub.yaml: two hubs on Redis behind nginx; a subscriber survives losing its hub', async () => {
    const redis = await startRedis();
    const ports = [await freePort(), await freePort()];
    const hubs = await Promise.all(
      ports.map((port) =>
        runCli(['serve', '--config', join(ROOT, 'examples/multi-hub.yaml'), '--log-level', 'info'], {
          COMETA_PORT: String(port),
          COMETA_HOST: '127.0.0.1',
          COMETA_STORE: redis.url,
        }),
      ),
    );
    const { base, stop } = await startNginx(ports);
    const got: { id: string | null; n: number }[] = [];
    const statuses: string[] = [];
    const sub = subscribe(base, ['lb.news'], {
      transports: ['sse'],
      minDelay: 50,
      onMessage: (e) => got.push({ id: e.id, n: (e.data as { n: number }).n }),
      onStatus: (st) => statuses.push(`${st.state}:${st.reason ?? ''}`),
    });
    try {
      await waitFor(() => sub.state === 'open', 10_000, 'subscribed through nginx');
      const send = async (n: number) => {
        const res = await fetch(`${base}/pub/lb.news`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ n }),
        });
        assert.equal(res.status, 202, await res.text());
      };
      // Round-robin: these land on both hubs; Redis fans them out to the subscriber's hub.
      for (let n = 1; n <= 20; n++) await send(n);
      await waitFor(() => got.length === 20, 10_000, 'first 20 through either hub');
      // Find the hub holding the stream and stop it (SIGTERM: close frame, clients go elsewhere).
      const holding: number[] = [];
      for (const [i, port] of ports.entries()) {
        const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        if (/cometa_connections\{transport="sse"\} 1/.test(m)) holding.push(i);
      }
      assert.equal(holding.length, 1, 'exactly one hub holds the stream');
      const victim = hubs[holding[0]!]!;
      victim.child.kill('SIGTERM');
      for (let n = 21; n <= 40; n++) {
        // nginx may try the stopping hub first; it answers 503 (shutting down) or is gone.
        for (let tries = 0; ; tries++) {
          try {
            await send(n);
            break;
          } catch (err) {
            if (tries > 20) throw err;
            await sleep(100);
          }
        }
      }
      assert.equal(await victim.exit, 0);
      await waitFor(() => got.length >= 40, 15_000, 'all 40 after the failover');
      assert.deepEqual(
        got.map((g) => g.n),
        Array.from({ length: 40 }, (_, i) => i + 1),
        'every message exactly once, in order, across the hub loss',
      );
      assert.ok(
        statuses.some((x) => x === 'reconnecting:shutdown'),
        `statuses: ${statuses.join(', ')}`,
      );
    } finally {
      sub.close();
      await stop();
      for (const hub of hubs) hub.child.kill('SIGTERM');
      await Promise.all(hubs.map((hub) => hub.exit));
      await redis.stop();
    }
  });

  test('control: the same check fails when nginx buffers (so the test above can fail)', async () => {
    const h = await startHub({ heartbeatMs: 60_000 });
    const { base, stop } = await startNginx(h.port, (c) =>
      c.replace('proxy_buffering off;', 'proxy_buffering on; proxy_ignore_headers X-Accel-Buffering;'),
    );
    try {
      const sse = sseClient(`${base}/sub/px.held`);
      await waitFor(() => h.hub.core.subscriberCount('px.held') === 1, 5000, 'subscriber at the hub');
      await fetch(`${base}/pub/px.held`, { method: 'POST', body: 'small' });
      await sleep(1500);
      assert.equal(sse.opened(), false, 'a buffering proxy holds the open frame');
      assert.equal(sse.messages().length, 0, 'and the message');
      sse.close();
    } finally {
      await stop();
      await h.close();
    }
  });
});
