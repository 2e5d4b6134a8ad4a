// The cometa dashboard: subscribes to the hub's own `cometa.stats` channel (a snapshot per second)
// and draws the last minutes as hand-made SVG line charts. No chart library.
(() => {
  const HUB = new URL('.', location.href).href.replace(/\/$/, '');
  const WINDOW = 180; // points kept (3 minutes at one snapshot per second)
  const TRANSPORTS = ['websocket', 'sse', 'stream', 'longpoll', 'poll', 'jsonp'];
  const COLORS = {
    websocket: '#8250df',
    sse: '#0969da',
    stream: '#1a7f37',
    longpoll: '#bf8700',
    poll: '#57606a',
    jsonp: '#cf222e',
    in: '#0969da',
    out: '#1a7f37',
    drops: '#cf222e',
    gaps: '#bf8700',
  };
  const SVG = 'http://www.w3.org/2000/svg';
  /** Snapshots by hub: several hubs sharing a store (Redis) all publish on cometa.stats. */
  const byHub = {};
  let points = [];
  const $ = (id) => document.getElementById(id);
  const dash = { snapshots: 0, drawn: 0 };
  window.cometaDashboard = dash;

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }

  /** The top of the y axis: four gridline steps of 1, 2 or 5 times a power of ten (at least 1 each). */
  function niceMax(v) {
    const raw = Math.max(v / 4, 1);
    const p = 10 ** Math.floor(Math.log10(raw));
    const n = raw / p;
    return 4 * (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * p;
  }

  /** Draws `series` ({name, values[]}) into the <svg id>, as lines over the shared time axis. */
  function lineChart(id, series, legendId) {
    const svg = $(id);
    const w = svg.clientWidth || 400;
    const h = svg.clientHeight || 180;
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const left = 36,
      right = 8,
      top = 8,
      bottom = 18;
    let max = 0;
    series.forEach((s) => {
      s.values.forEach((v) => {
        if (v > max) max = v;
      });
    });
    max = niceMax(max);
    const pw = w - left - right,
      ph = h - top - bottom;
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      el('line', { x1: left, x2: w - right, y1: y, y2: y, class: 'axis' }, svg);
      const label = el('text', { x: left - 4, y: y + 3, 'text-anchor': 'end' }, svg);
      label.textContent = String(Math.round(((max * i) / 4) * 10) / 10);
    }
    const t = el('text', { x: left, y: h - 4 }, svg);
    t.textContent = `-${Math.round(WINDOW)}s`;
    const now = el('text', { x: w - right, y: h - 4, 'text-anchor': 'end' }, svg);
    now.textContent = 'now';
    series.forEach((s) => {
      const n = s.values.length;
      if (n === 0) return;
      const coords = s.values.map((v, i) => {
        const x = left + pw * ((WINDOW - n + i) / (WINDOW - 1));
        const y = top + ph - (ph * v) / max;
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      });
      el(
        'polyline',
        {
          points: coords.join(' '),
          fill: 'none',
          stroke: COLORS[s.name] || '#333',
          'stroke-width': 2,
          'data-series': s.name,
        },
        svg,
      );
    });
    const legend = $(legendId);
    legend.textContent = '';
    series.forEach((s) => {
      const item = document.createElement('span');
      item.innerHTML = '<i></i>';
      item.firstChild.style.background = COLORS[s.name] || '#333';
      const last = s.values.length ? s.values[s.values.length - 1] : 0;
      item.appendChild(document.createTextNode(`${s.label}: ${last}`));
      legend.appendChild(item);
    });
  }

  function pick(key) {
    return points.map((p) => p[key]);
  }

  function draw() {
    rebuild();
    const latest = points[points.length - 1];
    if (!latest) return;
    let used = TRANSPORTS.filter((t) => points.some((p) => (p.connections[t] || 0) > 0));
    if (used.length === 0) used = ['sse'];
    lineChart(
      'chart-conns',
      used.map((t) => ({ name: t, label: t, values: points.map((p) => p.connections[t] || 0) })),
      'legend-conns',
    );
    lineChart(
      'chart-rates',
      [
        { name: 'in', label: 'published /s', values: pick('inPerSec') },
        { name: 'out', label: 'delivered /s', values: pick('outPerSec') },
      ],
      'legend-rates',
    );
    lineChart(
      'chart-drops',
      [
        { name: 'drops', label: 'slow-consumer drops', values: pick('drops') },
        { name: 'gaps', label: 'gaps', values: pick('gaps') },
      ],
      'legend-drops',
    );

    let conns = 0;
    for (const k in latest.connections) conns += latest.connections[k];
    $('k-conns').textContent = String(conns);
    $('k-in').textContent = String(latest.inPerSec);
    $('k-out').textContent = String(latest.outPerSec);
    $('k-drops').textContent = String(latest.dropsTotal);
    $('k-gaps').textContent = String(latest.gapsTotal);
    $('k-store').textContent = latest.store;
    $('k-hubs').textContent = String(latest.hubs);
    dash.hubs = latest.hubs;
    $('k-uptime').textContent = `${latest.uptimeSec}s`;
    $('k-rss').textContent = `${(latest.rss / 1048576).toFixed(0)} MB`;

    const body = $('channels');
    body.textContent = '';
    latest.channels.forEach((c) => {
      const tr = document.createElement('tr');
      [c.channel, c.subscribers, c.stored, c.inPerSec].forEach((v) => {
        const td = document.createElement('td');
        td.textContent = String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    if (latest.channels.length === 0)
      body.innerHTML =
        '<tr><td colspan="4" class="muted">No channel has subscribers or recent messages.</td></tr>';
    dash.drawn++;
  }

  let pending = false;
  /** One point from several hubs' snapshots: counts and rates add up, stored counts are shared. */
  function combine(list) {
    const out = {
      time: 0,
      hubs: list.length,
      store: list[0].store,
      uptimeSec: 0,
      connections: {},
      inPerSec: 0,
      outPerSec: 0,
      drops: 0,
      dropsTotal: 0,
      gaps: 0,
      gapsTotal: 0,
      rss: 0,
      channels: [],
    };
    const channels = {};
    list.forEach((s) => {
      out.time = Math.max(out.time, s.time);
      out.uptimeSec = Math.max(out.uptimeSec, s.uptimeSec);
      for (const k in s.connections) out.connections[k] = (out.connections[k] || 0) + s.connections[k];
      ['inPerSec', 'outPerSec', 'drops', 'dropsTotal', 'gaps', 'gapsTotal', 'rss'].forEach((k) => {
        out[k] += s[k];
      });
      s.channels.forEach((c) => {
        const row = channels[c.channel] || { channel: c.channel, subscribers: 0, stored: 0, inPerSec: 0 };
        row.subscribers += c.subscribers;
        row.stored = Math.max(row.stored, c.stored);
        row.inPerSec += c.inPerSec;
        channels[c.channel] = row;
      });
    });
    out.inPerSec = Math.round(out.inPerSec * 10) / 10;
    out.outPerSec = Math.round(out.outPerSec * 10) / 10;
    out.channels = Object.keys(channels)
      .map((k) => channels[k])
      .sort((a, b) => b.subscribers - a.subscribers || b.inPerSec - a.inPerSec);
    return out;
  }

  /** The chart points: one hub's snapshots as they are, or every hub's summed per second. */
  function rebuild() {
    const hubs = Object.keys(byHub);
    if (hubs.length === 1) {
      points = byHub[hubs[0]].map((s) => combine([s]));
      return;
    }
    let end = 0;
    hubs.forEach((h) => {
      end = Math.max(end, byHub[h][byHub[h].length - 1].time);
    });
    points = [];
    for (let t = end - (WINDOW - 1) * 1000; t <= end; t += 1000) {
      const list = [];
      hubs.forEach((h) => {
        const snaps = byHub[h];
        for (let i = snaps.length - 1; i >= 0; i--) {
          const s = snaps[i];
          if (s.time > t) continue;
          if (s.time > t - 2.5 * (s.intervalMs || 1000)) list.push(s);
          break;
        }
      });
      if (list.length > 0) points.push(combine(list));
    }
  }

  function onSnapshot(s) {
    const id = s.hub || 'hub';
    if (!byHub[id]) byHub[id] = [];
    const list = byHub[id];
    list.push(s);
    if (list.length > WINDOW + 5) list.shift();
    // A hub that went away (no snapshot for a minute) leaves the sums.
    Object.keys(byHub).forEach((h) => {
      const last = byHub[h][byHub[h].length - 1];
      if (s.time - last.time > 60_000) delete byHub[h];
    });
    dash.snapshots++;
    // A replay of history arrives in one burst: draw once per frame, not per snapshot.
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        draw();
      });
    }
  }

  function status(s) {
    const el = $('state');
    el.textContent = s.state + (s.reason ? ` (${s.reason})` : '');
    el.setAttribute('data-state', s.state);
    $('transport').textContent = s.transport || '—';
  }

  if (typeof cometa === 'undefined' || typeof cometa.subscribe !== 'function') {
    status({
      state: 'unavailable',
      transport: '',
      reason: 'this /cometa.js has no subscribe(): run npm run build',
    });
    return;
  }
  // The last minutes come from the channel's history, then it goes live.
  cometa.subscribe(HUB, ['cometa.stats'], {
    last: WINDOW,
    onMessage: (e) => {
      if (e.event === 'stats') onSnapshot(e.data);
    },
    onStatus: status,
  });
  window.addEventListener('resize', draw);
})();
