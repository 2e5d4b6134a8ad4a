// Shared by the attack scripts: a hub in a child process built from a dist/ directory (this
// checkout's, or another version's, to compare), a monitor that times /healthz from its own
// connection and samples the hub's RSS while an attack runs, and the report. Loopback only; every
// loop is bounded in count and time.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** `--name value` pairs of argv, with defaults; numbers stay numbers. */
export function args(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]?.replace(/^--/, '');
    if (key === undefined || !(key in defaults))
      throw new Error(`unknown option ${argv[i]}; known: ${Object.keys(defaults).join(', ')}`);
    out[key] = typeof defaults[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return out;
}

/** VmRSS and VmHWM of a process, MiB. */
export function rssOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: Math.round(kb('VmRSS') / 1024), hwm: Math.round(kb('VmHWM') / 1024) };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/**
 * Starts `createHub(options)` from `dist` in a child node with `--max-old-space-size=heapMb` on
 * 127.0.0.1:0; resolves with its port, pid, exit promise and the tail of its stderr.
 */
export function startHub(dist, options, heapMb) {
  const entry = pathToFileURL(resolve(dist, 'hub/index.js')).href;
  const code = `
    const { createHub } = await import(${JSON.stringify(entry)});
    const hub = createHub(${JSON.stringify({ logger: false, ...options })});
    const a = await hub.listen(0, '127.0.0.1');
    process.stdout.write(JSON.stringify({ port: a.port }) + '\\n');
    process.on('SIGTERM', () => hub.close().then(() => process.exit(0)));
  `;
  const child = spawn(
    process.execPath,
    [`--max-old-space-size=${heapMb}`, '--input-type=module', '-e', code],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolveStart, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n')[0];
      if (out.includes('\n'))
        resolveStart({ port: JSON.parse(line).port, pid: child.pid, child, exited, stderr: () => stderr });
    });
    exited.then((e) => reject(new Error(`hub exited before listening: ${JSON.stringify(e)} ${stderr}`)));
  });
}

/** One request on its own connection; resolves with status, body bytes and ms (status 0: failed). */
export function timed(port, method, path, body, timeoutMs = 5000, headers = {}) {
  return new Promise((done) => {
    const t0 = performance.now();
    const req = request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: { connection: 'close', ...headers } },
      (res) => {
        let bytes = 0;
        res.on('data', (d) => {
          bytes += d.length;
        });
        res.on('end', () => done({ status: res.statusCode ?? 0, bytes, ms: performance.now() - t0 }));
        res.on('error', () => done({ status: 0, bytes, ms: performance.now() - t0 }));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => done({ status: 0, bytes: 0, ms: performance.now() - t0, error: err.message }));
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/**
 * Times GET /healthz every `everyMs` (one at a time, 5 s timeout) and samples the hub's RSS, until
 * stop(); `capMb` ends the hub (SIGKILL) if its RSS passes it, so a run cannot take the machine.
 */
export function monitor(hub, everyMs = 250, capMb = 6144) {
  const lat = [];
  let timeouts = 0;
  let peak = 0;
  let capped = false;
  let running = true;
  // RSS on its own timer: a /healthz that takes seconds must not delay the cap.
  const sampler = setInterval(() => {
    const { rss } = rssOf(hub.pid);
    peak = Math.max(peak, rss);
    if (rss > capMb && !capped) {
      capped = true;
      hub.child.kill('SIGKILL');
    }
  }, 50);
  const loop = (async () => {
    while (running) {
      const r = await timed(hub.port, 'GET', '/healthz', undefined, 5000);
      if (r.status === 200) lat.push(r.ms);
      else timeouts++;
      await new Promise((res) => setTimeout(res, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      clearInterval(sampler);
      lat.sort((a, b) => a - b);
      const q = (p) =>
        lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]) : null;
      return {
        healthz: { answered: lat.length, failed: timeouts, p50: q(0.5), p99: q(0.99), max: q(1) },
        peakRssMb: peak,
        capped,
      };
    },
  };
}

/** Publishes `count` messages of `bytes` each, `perSecond` at most, to `channel(i)`; stops early if the hub dies. */
export async function publishPaced(port, count, bytes, perSecond, channel, alive, deadline) {
  const body = JSON.stringify('x'.repeat(bytes - 2));
  const statuses = {};
  const start = performance.now();
  for (let i = 0; i < count && alive() && Date.now() < deadline; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const r = await timed(port, 'POST', `/pub/${channel(i)}`, body, 30_000, {
      'content-type': 'application/json',
    });
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  }
  return statuses;
}

/**
 * Starts a hub from `dist` with `options(dir)` (dir: a temporary folder for its files), runs
 * `attack(hub, dir, alive)` and prints the report it returns as JSON; then kills the hub and
 * removes the folder, whatever happened.
 */
export async function runAttack(dist, heapMb, options, attack) {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-attack-'));
  const hub = await startHub(dist, options(dir), heapMb);
  let dead = false;
  hub.exited.then(() => {
    dead = true;
  });
  try {
    console.log(JSON.stringify(await attack(hub, dir, () => !dead), null, 1));
  } finally {
    if (!dead) hub.child.kill('SIGKILL');
    await hub.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The end of every attack's report: the hub's RSS before the attack, at its peak and after, what
 * the monitor saw (`seen`, from monitor().stop()), and how the hub exited if it died.
 */
export async function hubOutcome(hub, before, seen, alive) {
  const after = rssOf(hub.pid);
  const dead = !alive();
  return {
    rssBeforeMb: before.rss,
    rssPeakMb: Math.max(seen.peakRssMb, after.hwm),
    rssAfterMb: after.rss,
    ...seen,
    hubExit: dead ? await hub.exited : null,
    hubStderr: dead ? hub.stderr().split('\n').filter(Boolean).slice(-3).join(' | ') : undefined,
  };
}
