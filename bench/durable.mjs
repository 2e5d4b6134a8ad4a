// The `durable` scenario of `npm run bench`: Durable Streams appends per second and append-to-tail
// latency, cometa (memory and SQLite stores) against the protocol's reference server
// (@durable-streams/server, in memory and file-backed), each alone in its own process, measured
// from this process over loopback HTTP/1.1 keep-alive connections.
//
// - appends/s: `conns` connections each POSTing one small JSON message after the other to its own
//   stream for `seconds`; every answer must be 2xx.
// - latency: one SSE tail (`live=sse` from `now`) on a stream; `rate` appends per second, each
//   carrying its index; latency = the time the tail parsed the message − the time its POST was sent.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start as startCometa } from './peers/cometa.mjs';
import { startNodeServer } from './peers/node-peer.mjs';

export const DURABLE_PEERS = {
  'cometa-memory': { label: 'cometa, memory store', start: () => startCometa(['--store', 'memory']) },
  'cometa-sqlite': { label: 'cometa, SQLite store (default)', start: () => startCometa([]) },
  'ds-reference': { label: '@durable-streams/server, in memory', start: () => startReference(false) },
  'ds-reference-file': { label: '@durable-streams/server, file-backed', start: () => startReference(true) },
};

async function startReference(file) {
  const dir = file ? mkdtempSync(join(tmpdir(), 'ds-ref-')) : undefined;
  const p = await startNodeServer('./ds-reference-server.mjs', dir ? [dir] : []);
  return {
    ...p,
    async stop() {
      await p.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(port, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };

async function appendsPerSecond(port, { conns, seconds }) {
  const streams = Array.from({ length: conns }, (_, i) => `/v1/stream/bench-append-${i}-${Date.now()}`);
  for (const s of streams) await call(port, 'PUT', s, JSON_TYPE);
  const body = JSON.stringify({ n: 0, text: 'a token of about sixty-four bytes of payload......' });
  const end = Date.now() + seconds * 1000;
  let ok = 0;
  let bad = 0;
  await Promise.all(
    streams.map(async (s) => {
      while (Date.now() < end) {
        const status = await call(port, 'POST', s, JSON_TYPE, body);
        if (status >= 200 && status < 300) ok++;
        else bad++;
      }
    }),
  );
  return { appends: ok, failed: bad, perSecond: ok / seconds };
}

async function tailLatency(port, { rate, seconds }) {
  const path = `/v1/stream/bench-tail-${Date.now()}`;
  await call(port, 'PUT', path, JSON_TYPE);
  const sent = new Map();
  const lat = [];
  let buffer = '';
  const tail = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `${path}?offset=now&live=sse` }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk;
        for (let i = buffer.indexOf('\n\n'); i !== -1; i = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          if (!block.startsWith('event: data') && !block.startsWith('event:data')) continue;
          const now = performance.now();
          const text = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5))
            .join('\n');
          for (const item of JSON.parse(text)) {
            const t = sent.get(item.i);
            if (t !== undefined) lat.push(now - t);
          }
        }
      });
      resolve(req);
    });
    req.on('error', reject);
  });
  await new Promise((r) => setTimeout(r, 300));
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sent.set(i, performance.now());
    await call(port, 'POST', path, JSON_TYPE, JSON.stringify({ i }));
  }
  await new Promise((r) => setTimeout(r, 500));
  tail.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length === 0 ? null : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]);
  return { expected: total, received: lat.length, p50: q(0.5), p99: q(0.99), max: lat.at(-1) ?? null };
}

/** Runs both measures on every peer named (all by default); one row per peer. */
export async function durableScenario({ peers = Object.keys(DURABLE_PEERS), params, log }) {
  const rows = [];
  for (const peer of peers) {
    const def = DURABLE_PEERS[peer];
    let server;
    try {
      server = await def.start();
      const appends = await appendsPerSecond(server.port, params);
      const latency = await tailLatency(server.port, params);
      const row = { peer, label: def.label, appends, latencyMs: latency };
      log(
        `  ${def.label}: ${Math.round(appends.perSecond)} appends/s (${appends.failed} failed), append→SSE tail p50 ${latency.p50?.toFixed(2)} ms, p99 ${latency.p99?.toFixed(2)} ms (${latency.received}/${latency.expected})`,
      );
      rows.push(row);
    } catch (e) {
      log(`  ${def.label}: ERROR ${e.message}`);
      rows.push({ peer, label: def.label, error: e.message });
    } finally {
      await server?.stop();
    }
  }
  return rows;
}

// Alone: `node bench/durable.mjs [--quick]`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const params = quick ? { conns: 4, seconds: 2, rate: 100 } : { conns: 4, seconds: 10, rate: 200 };
  const rows = await durableScenario({ params, log: console.log });
  console.log(JSON.stringify(rows, null, 2));
  agent.destroy();
  process.exit(0);
}
