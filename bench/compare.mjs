#!/usr/bin/env node
// Before/after table for cometa's rows across bench runs: every figure next to its ratio to nginx+nchan
// in the same run, so runs on differently loaded machines stay comparable.
//
//   node bench/compare.mjs --before a.json [--before b.json ...] --after c.json [--after d.json ...]
//
// Several files per side merge (later files win per scenario), e.g. a full run plus a rerun of a
// scenario. Prints Markdown.
import { readFileSync } from 'node:fs';

const METRICS = {
  fanout: [
    ['µs CPU / delivery', (r) => r.usPerDelivery, 2],
    ['p99 ms', (r) => r.latencyMs?.p99, 1],
  ],
  channels: [
    ['µs CPU / delivery', (r) => r.usPerDelivery, 1],
    ['p99 ms', (r) => r.latencyMs?.p99, 1],
  ],
  idle: [['KB / connection', (r) => r.rssPerSubKB, 2]],
  publish: [
    ['publishes / s', (r) => r.perSecond, 0],
    ['µs CPU / publish', (r) => r.usPerPublish, 1],
  ],
  longpoll: [['µs CPU / round trip', (r) => r.usPerRoundTrip, 1]],
  scale: [
    ['µs CPU / delivery', (r) => r.usPerDelivery, 1],
    ['p99 ms', (r) => r.latencyMs?.p99, 1],
  ],
};

function load(files) {
  const out = {};
  for (const f of files) {
    const d = JSON.parse(readFileSync(f, 'utf8'));
    for (const [name, s] of Object.entries(d.scenarios ?? {})) out[name] = s.rows ?? [];
  }
  return out;
}

const args = { before: [], after: [] };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--before' || a === '--after') args[a.slice(2)].push(process.argv[++i]);
  else throw new Error(`unknown argument ${a}`);
}
if (!args.before.length || !args.after.length) throw new Error('need --before FILE and --after FILE');
const before = load(args.before);
const after = load(args.after);

const ok = (r) => r && !r.skipped && !r.error;
const fmt = (x, d) =>
  x === null || x === undefined || Number.isNaN(x)
    ? '–'
    : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const nchanOf = (rows, r) =>
  rows.find((x) => x.peer === 'nchan' && ok(x) && x.transport === r.transport) ??
  rows.find((x) => x.peer === 'nchan' && ok(x) && x.transport === 'ws') ??
  rows.find((x) => x.peer === 'nchan' && ok(x));
const cell = (rows, r, get, d) => {
  if (!ok(r)) return '–';
  const v = get(r);
  const n = nchanOf(rows, r);
  const nv = n ? get(n) : null;
  return `${fmt(v, d)}${nv ? ` (${fmt(v / nv, 2)}× nchan)` : ''}`;
};

const lines = ['| scenario | peer · transport | figure | before | after |', '|---|---|---|---:|---:|'];
for (const [name, metrics] of Object.entries(METRICS)) {
  const rowsAfter = after[name];
  if (!rowsAfter) continue;
  const rowsBefore = before[name] ?? [];
  for (const r of rowsAfter.filter((x) => x.peer.startsWith('cometa'))) {
    const b = rowsBefore.find((x) => x.peer === r.peer && x.transport === r.transport);
    for (const [label, get, d] of metrics) {
      lines.push(
        `| ${name} | ${r.peer}${r.transport ? ` · ${r.transport}` : ''} | ${label} | ${b ? cell(rowsBefore, b, get, d) : '–'} | ${cell(rowsAfter, r, get, d)} |`,
      );
    }
  }
}
console.log(lines.join('\n'));
