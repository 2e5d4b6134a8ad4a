// Markdown report and SVG bar charts from a bench result object (see run.mjs).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

const COLORS = {
  nchan: '#6b7280',
  socketio: '#2563eb',
  faye: '#d97706',
  cometa: '#16a34a',
  'cometa-memory': '#4ade80',
  'cometa-nagle': '#86efac',
  'cometa-nodelay': '#bbf7d0',
  'node-http': '#d1d5db',
  'node-net': '#e5e7eb',
};
const TRANSPORT = {
  sse: 'SSE',
  ws: 'WebSocket',
  longpoll: 'long-poll',
  stream: 'HTTP stream (NDJSON)',
  polling: 'Engine.IO polling',
};
const SHORT_PEER = {
  nchan: 'nchan',
  socketio: 'Socket.IO',
  faye: 'Faye',
  cometa: 'cometa',
  'cometa-memory': 'cometa (memory)',
  'cometa-nagle': 'cometa (Nagle)',
  'cometa-nodelay': 'cometa (NODELAY)',
  'node-http': 'bare Node http',
  'node-net': 'bare Node net',
};
const SHORT_TRANSPORT = { sse: 'SSE', ws: 'WS', longpoll: 'long-poll', stream: 'stream', polling: 'polling' };
const shortLabel = (r) =>
  `${SHORT_PEER[r.peer] ?? r.peer}${
    r.transport
      ? ` · ${r.transport
          .split('+')
          .map((t) => SHORT_TRANSPORT[t] ?? t)
          .join('+')}`
      : ''
  }`;

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x, d = 1) =>
  x === null || x === undefined || Number.isNaN(x)
    ? '–'
    : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

/** Horizontal bar chart; bars: [{ label, value, color }]. Lower-is-better noted in the title. */
export function barChart(title, unit, bars) {
  const rows = bars.filter((b) => typeof b.value === 'number' && Number.isFinite(b.value));
  const labelW = 250;
  const plotW = 360;
  const barH = 20;
  const gap = 8;
  const top = 36;
  const height = top + rows.length * (barH + gap) + 10;
  const max = Math.max(...rows.map((b) => b.value), 1e-9);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + plotW + 110}" height="${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="8" y="20" font-size="14" font-weight="600">${esc(title)}</text>`,
  ];
  rows.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const w = Math.max(1, (b.value / max) * plotW);
    parts.push(
      `<text x="${labelW - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color ?? '#999'}" rx="2"/>`,
      `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + barH / 2 + 4}">${esc(`${num(b.value, b.digits ?? 1)} ${unit}`)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

const ok = (r) => r && !r.skipped && !r.error;

/** The nchan row to compare a row with: same transport, else the closest (polling: long-poll; stream: SSE), else WebSocket. */
function baseline(rows, r) {
  const n = rows.filter((x) => x.peer === 'nchan' && ok(x));
  const like = { polling: 'longpoll', stream: 'sse' }[r.transport];
  return (
    n.find((x) => x.transport === r.transport) ??
    n.find((x) => x.transport === like) ??
    n.find((x) => x.transport === 'ws') ??
    n[0]
  );
}

function ratio(rows, r, key) {
  const b = baseline(rows, r);
  const v = key(r);
  const bv = b ? key(b) : null;
  if (!b || v === null || v === undefined || !bv) return '–';
  return `${num(v / bv, 2)}×`;
}

function label(result, r) {
  return `${result.peers[r.peer] ?? r.peer}${r.transport ? ` · ${TRANSPORT[r.transport] ?? r.transport}` : ''}`;
}

function table(header, lines) {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
    ...lines.map((l) => `| ${l.join(' | ')} |`),
  ].join('\n');
}

function failedLines(result, rows) {
  return rows
    .filter((r) => !ok(r))
    .map(
      (r) =>
        `- ${label(result, r)}: ${r.skipped ? `not run (${r.skipped})` : `error: ${String(r.error).split('\n')[0]}`}`,
    )
    .join('\n');
}

export function writeReport(result, base) {
  const stamp = basename(base);
  mkdirSync(base, { recursive: true });
  const md = [];
  const chart = (name, title, unit, rows, value, digits = 1) => {
    const bars = rows
      .filter(ok)
      .map((r) => ({ label: shortLabel(r), value: value(r), color: COLORS[r.peer], digits }));
    if (!bars.some((b) => typeof b.value === 'number')) return;
    writeFileSync(`${base}/${name}.svg`, barChart(title, unit, bars));
    md.push(`![${title}](${stamp}/${name}.svg)`, '');
  };
  const m = result.machine;
  md.push(
    `# cometa benchmark, ${result.date.slice(0, 10)}${result.quick ? ' (quick smoke run: small counts, not comparable to a full run)' : ''}${result.complete === false ? ' (partial: the run was interrupted)' : ''}`,
    '',
    `Ran ${result.date} → ${result.finished} on ${m.cpus} × ${m.cpuModel}, ${m.memGB} GB, Linux ${m.kernel}, Node ${m.node} ` +
      `(load average at start: ${m.loadavg.map((x) => num(x, 2)).join(', ')}; the machine is shared, so latency figures are noisier than CPU figures).`,
    '',
    (result.pinned
      ? 'Pinned run (`--pin`): every server ran on CPU 0 (`taskset`), the harness and its load generators on the other CPUs. '
      : '') +
      'Each peer runs alone, one process / one worker, on 127.0.0.1; the load generator runs in separate Node processes (raw sockets for SSE, streaming and long-poll; `ws` for WebSocket, speaking each peer’s wire format). ' +
      'Server CPU = utime + stime of the server process from `/proc/PID/stat` over the measured window; RSS from `/proc/PID/status`. ' +
      'Latency = receive time − the send time embedded in each 64-byte payload by the publisher. ' +
      'CPU percentages are of one core over the window; “other processes” is the rest of the machine’s busy time (/proc/stat) in that window, the noise indicator. ' +
      'Ratios compare with nginx+nchan in the same run (same transport; WebSocket for peers without SSE). Lower is better except for throughput.',
    '',
    `Peers: ${Object.entries(result.peers)
      .map(([k, v]) => (result.versions?.[k] ? `${v} (${result.versions[k]})` : v))
      .join(', ')}.`,
    '',
    // Notes added by hand to the JSON (e.g. rows replaced by a rerun, and why).
    ...(result.notes ?? []).flatMap((n) => [`> ${n}`, '']),
  );
  const S = result.scenarios;

  const deliveryTable = (rows) =>
    table(
      [
        'Peer',
        'Transport',
        'µs CPU / delivery',
        '× nchan',
        'p50 ms',
        'p99 ms',
        'max ms',
        '× nchan p99',
        'delivered',
        'loss',
        'server CPU',
        'load gen. CPU',
        'other processes CPU',
        'RSS KB / sub',
      ],
      rows
        .filter(ok)
        .map((r) => [
          result.peers[r.peer] ?? r.peer,
          TRANSPORT[r.transport] ?? r.transport,
          num(r.usPerDelivery, 2),
          ratio(rows, r, (x) => x.usPerDelivery),
          num(r.latencyMs.p50, 2),
          num(r.latencyMs.p99, 2),
          num(r.latencyMs.max, 1),
          ratio(rows, r, (x) => x.latencyMs.p99),
          `${r.received.toLocaleString('en-US')} / ${r.expected.toLocaleString('en-US')}`,
          `${num(100 * r.loss, 2)} %`,
          `${num(r.serverCpuPercent, 0)} %`,
          `${num(r.loadgenCpuPercent, 0)} %`,
          `${num(r.otherCpuPercent, 0)} %`,
          num(r.rssPerSubKB, 1),
        ]),
    );

  if (S.fanout) {
    const p = S.fanout.params;
    md.push(
      `## 1. Fan-out: ${p.fanoutSubs.toLocaleString('en-US')} subscribers on one channel, ${p.fanoutRate} msg/s × ${p.payloadBytes} B × ${p.fanoutSeconds} s`,
      '',
    );
    md.push(deliveryTable(S.fanout.rows), '', failedLines(result, S.fanout.rows), '');
    chart(
      'fanout-cpu',
      'Fan-out: server CPU per delivered message (lower is better)',
      'µs',
      S.fanout.rows,
      (r) => r.usPerDelivery,
      2,
    );
    chart(
      'fanout-p99',
      'Fan-out: p99 latency (lower is better)',
      'ms',
      S.fanout.rows,
      (r) => r.latencyMs.p99,
      1,
    );
  }
  if (S.channels) {
    const p = S.channels.params;
    md.push(
      `## 2. Many channels: ${p.channelsSubs.toLocaleString('en-US')} subscribers on ${p.channelsCount.toLocaleString('en-US')} channels, ${p.channelsRate.toLocaleString('en-US')} msg/s for ${p.channelsSeconds} s`,
      '',
    );
    md.push(deliveryTable(S.channels.rows), '', failedLines(result, S.channels.rows), '');
    chart(
      'channels-cpu',
      'Many channels: server CPU per delivered message (lower is better)',
      'µs',
      S.channels.rows,
      (r) => r.usPerDelivery,
      2,
    );
  }
  if (S.idle) {
    const p = S.idle.params;
    const rows = S.idle.rows;
    md.push(
      `## 3. Idle memory: ${p.idleSubs.toLocaleString('en-US')} idle subscribers per transport (on ${p.idleChannels} channels)`,
      '',
    );
    md.push(
      table(
        [
          'Peer',
          'Transport',
          'RSS KB / connection',
          '× nchan',
          'RSS before MB',
          'RSS after MB',
          'idle CPU',
          'opened',
        ],
        rows
          .filter(ok)
          .map((r) => [
            result.peers[r.peer] ?? r.peer,
            TRANSPORT[r.transport] ?? r.transport,
            num(r.rssPerSubKB, 2),
            ratio(rows, r, (x) => x.rssPerSubKB),
            num(r.rssBaseBytes / 2 ** 20, 1),
            num(r.rssBytes / 2 ** 20, 1),
            `${num(r.idleCpuPercent, 1)} %`,
            `${r.opened} / ${r.subscribers}`,
          ]),
      ),
      '',
      failedLines(result, rows),
      '',
    );
    chart(
      'idle-rss',
      'Idle memory: RSS growth per connection (lower is better)',
      'KB',
      rows,
      (r) => r.rssPerSubKB,
      1,
    );
  }
  if (S.publish) {
    const p = S.publish.params;
    const rows = S.publish.rows;
    md.push(
      `## 4. Publish throughput: HTTP POST, ${p.publishConns} keep-alive connections back to back, ${p.publishSeconds} s, no subscribers`,
      '',
    );
    if ((p.publishRounds ?? 1) > 1)
      md.push(
        `Every peer ran ${p.publishRounds} times, round after round; each row is the peer's median round by rate, and the last column lists every round's rate.`,
        '',
      );
    md.push(
      table(
        [
          'Peer',
          '',
          'publishes / s',
          '× nchan',
          'µs CPU / publish',
          '× nchan',
          'server CPU',
          'load gen. CPU',
          'other processes CPU',
          'answers',
          'rounds, publishes / s',
        ],
        rows.filter(ok).map((r) => [
          result.peers[r.peer] ?? r.peer,
          '',
          num(r.perSecond, 0),
          ratio(rows, r, (x) => x.perSecond),
          num(r.usPerPublish, 1),
          ratio(rows, r, (x) => x.usPerPublish),
          `${num(r.serverCpuPercent, 0)} %`,
          `${num(r.loadgenCpuPercent, 0)} %`,
          `${num(r.otherCpuPercent, 0)} %`,
          Object.entries(r.statuses)
            .map(([s, n]) => `${s}: ${n}`)
            .join(', '),
          (r.rounds ?? [r])
            .filter(ok)
            .map((x) => num(x.perSecond, 0))
            .join(' / '),
        ]),
      ),
      '',
      failedLines(result, rows),
      '',
    );
    chart('publish-rate', 'Publish throughput (higher is better)', '/s', rows, (r) => r.perSecond, 0);
  }
  if (S.longpoll) {
    const p = S.longpoll.params;
    const rows = S.longpoll.rows;
    md.push(
      `## 5. Long-poll round trip with a message waiting: ${p.longpollConns} keep-alive connections, ${p.longpollSeconds} s`,
      '',
    );
    md.push(
      table(
        [
          'Peer',
          '',
          'µs CPU / round trip',
          '× nchan',
          'round trips / s',
          'server CPU',
          'load gen. CPU',
          'other processes CPU',
          'answers with the message',
        ],
        rows
          .filter(ok)
          .map((r) => [
            result.peers[r.peer] ?? r.peer,
            '',
            num(r.usPerRoundTrip, 1),
            ratio(rows, r, (x) => x.usPerRoundTrip),
            num(r.perSecond, 0),
            `${num(r.serverCpuPercent, 0)} %`,
            `${num(r.loadgenCpuPercent, 0)} %`,
            `${num(r.otherCpuPercent, 0)} %`,
            `${r.withMessage} / ${r.roundTrips}`,
          ]),
      ),
      '',
      failedLines(result, rows),
      '',
    );
    chart(
      'longpoll-cpu',
      'Long-poll: server CPU per round trip (lower is better)',
      'µs',
      rows,
      (r) => r.usPerRoundTrip,
      1,
    );
  }
  if (S.wildcard) {
    const p = S.wildcard.params;
    md.push(
      `## 8. Wildcard fan-out: ${p.wildcardSubs.toLocaleString('en-US')} subscribers of one channel by name, then by a pattern matching it (cometa, memory store), ${p.wildcardRate} msg/s × ${p.payloadBytes} B × ${p.wildcardSeconds} s`,
      '',
      'The cost of matching published channels against subscribed patterns (a trie of segments, its answer cached per channel): the same deliveries, to subscribers of `w.0` and of `w.*`.',
      '',
    );
    const rows = S.wildcard.rows.filter(ok);
    const exact = (r) => rows.find((x) => x.mode === 'exact' && x.transport === r.transport);
    md.push(
      table(
        [
          'Subscribed as',
          'Transport',
          'µs CPU / delivery',
          '× by name',
          'p50 ms',
          'p99 ms',
          'delivered',
          'loss',
        ],
        rows.map((r) => [
          r.mode === 'exact' ? 'channel name' : 'pattern',
          TRANSPORT[r.transport] ?? r.transport,
          num(r.usPerDelivery, 2),
          exact(r) ? num(r.usPerDelivery / exact(r).usPerDelivery, 2) : '–',
          num(r.latencyMs.p50, 2),
          num(r.latencyMs.p99, 2),
          `${r.received.toLocaleString('en-US')} / ${r.expected.toLocaleString('en-US')}`,
          `${num(100 * r.loss, 2)} %`,
        ]),
      ),
      '',
      failedLines(result, S.wildcard.rows),
      '',
    );
  }

  if (S.scale) {
    const p = S.scale.params;
    md.push(
      `## 6. Scale: ${p.scaleSubs.toLocaleString('en-US')} subscribers mixed over each peer’s transports, one channel, ${p.scaleRate} msg/s for ${p.scaleSeconds} s`,
      '',
    );
    md.push(deliveryTable(S.scale.rows), '', failedLines(result, S.scale.rows), '');
    chart('scale-p99', 'Scale: p99 latency (lower is better)', 'ms', S.scale.rows, (r) => r.latencyMs.p99, 1);
  }
  if (S.durable) {
    const p = S.durable.params;
    md.push(
      '## Durable Streams: cometa vs the reference server',
      '',
      `Appends per second: ${p.conns} keep-alive connections, each POSTing one JSON message after the other to its own stream for ${p.seconds} s. ` +
        `Latency: one SSE tail (\`live=sse\` from \`now\`) while ${p.rate} appends/s go to its stream; receive time − send time of each append (bench/durable.mjs).`,
      '',
      table(
        ['Server', 'appends/s', 'failed', 'tail p50 ms', 'tail p99 ms', 'tail max ms', 'received'],
        S.durable.rows.map((r) =>
          r.error
            ? [r.label, `error: ${r.error}`, '', '', '', '', '']
            : [
                r.label,
                num(r.appends.perSecond, 0),
                String(r.appends.failed),
                num(r.latencyMs.p50, 2),
                num(r.latencyMs.p99, 2),
                num(r.latencyMs.max, 1),
                `${r.latencyMs.received} / ${r.latencyMs.expected}`,
              ],
        ),
      ),
      '',
    );
  }
  if (S.size) {
    const rows = S.size.rows;
    const base0 = rows.find((r) => r.name.startsWith('axios'));
    md.push('## 7. Client size: esbuild --bundle --minify (browser, ES2018), gzip -9', '');
    md.push(
      table(
        ['Library', 'Entry', 'min KB', 'min+gzip KB', '× axios'],
        rows.map((r) => [
          r.name,
          `\`${r.entry}\``,
          r.error ? 'error' : num(r.minBytes / 1024, 1),
          r.error ? esc(r.error) : num(r.gzipBytes / 1024, 2),
          r.error || !base0?.gzipBytes ? '–' : `${num(r.gzipBytes / base0.gzipBytes, 2)}×`,
        ]),
      ),
      '',
    );
    const bars = rows
      .filter((r) => !r.error)
      .map((r) => ({
        label: r.name,
        value: r.gzipBytes / 1024,
        color: r.name.startsWith('cometa') ? COLORS.cometa : COLORS.nchan,
        digits: 2,
      }));
    writeFileSync(`${base}/size.svg`, barChart('Client size, min+gzip (lower is better)', 'KB', bars));
    md.push(`![Client size](${stamp}/size.svg)`, '');
  }
  md.push('## Parameters', '', '```json', JSON.stringify(result.params, null, 2), '```', '');
  writeFileSync(`${base}.md`, `${md.join('\n').replace(/\n{3,}/g, '\n\n')}`);
}

// `node bench/report.mjs bench/results/DATE` rewrites DATE.md and the charts from DATE.json.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const base = process.argv[2]?.replace(/\.(json|md)$/, '');
  if (!base) throw new Error('usage: node bench/report.mjs bench/results/DATE');
  writeReport(JSON.parse(readFileSync(`${base}.json`, 'utf8')), base);
  console.log(`wrote ${base}.md`);
}
