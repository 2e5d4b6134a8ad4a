// cometa behind nginx: the hub (memory store, `--trust-proxy 127.0.0.1`, as peers/cometa.mjs
// builds and runs it) with examples/nginx.conf in front, so that the figures include the proxy
// users run. The peer's server cost is both processes' (`pid` is [hub, nginx]: lib/proc.mjs sums
// them); its port is nginx's.
//
// examples/nginx.conf is used as written but for what a test run must change (upstream port,
// listen address, temp and log paths) and the process settings the nchan peer runs with (one
// worker, daemon and master process off, 19,000 connections, keepalive_requests 1000000 towards
// the load generator, whose keep-alive connections would otherwise be closed every 1,000 requests).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../lib/children.mjs';
import { freePort } from '../lib/net.mjs';
import { startNginx } from '../lib/nginx.mjs';
import { start as startCometa } from './cometa.mjs';

const example = fileURLToPath(new URL('../../examples/nginx.conf', import.meta.url));

/** examples/nginx.conf in front of the hub on `hubPort`, listening on `port`. */
export function proxyConfig({ dir, port, hubPort }) {
  const conf = readFileSync(example, 'utf8');
  const edits = [
    ['server 127.0.0.1:8080;', `server 127.0.0.1:${hubPort};`],
    ['listen 80;', `listen 127.0.0.1:${port} backlog=4096;`],
    ['worker_connections 4096;', 'worker_connections 19000;'],
    [
      'http {',
      `http {\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;`,
    ],
  ];
  let out = conf;
  for (const [from, to] of edits) {
    if (!out.includes(from)) throw new Error(`examples/nginx.conf no longer has ${JSON.stringify(from)}`);
    out = out.replace(from, to);
  }
  return `worker_processes 1;\ndaemon off;\nmaster_process off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nworker_rlimit_nofile 20000;\n${out}`;
}

export async function start() {
  const hub = await startCometa(['--store', 'memory', '--trust-proxy', '127.0.0.1']);
  const dir = mkdtempSync(join(tmpdir(), 'cometa-bench-proxy-'));
  let child;
  try {
    const port = await freePort();
    child = await startNginx(
      dir,
      proxyConfig({ dir, port, hubPort: hub.port }),
      port,
      'nginx in front of cometa',
    );
    return {
      pid: [hub.pid, child.pid],
      port,
      version: `${hub.version} behind nginx 1.22.1 (examples/nginx.conf)`,
      async stop() {
        await stopChild(child);
        await hub.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    if (child) await stopChild(child);
    await hub.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
