// Load generator process, driven by bench/run.mjs over IPC (child_process.fork).
// Commands: open (subscribers), reset, stats, publish (rate), flood (throughput), lproundtrip
// (long-poll round trips against a waiting message), prime (publish k messages), close.
import { performance } from 'node:perf_hooks';
import { newHist, record, toSparse } from '../lib/hist.mjs';
import { openSubscriber, PubConn } from './clients.mjs';

const now = () => performance.timeOrigin + performance.now();
const subs = [];
let hist = newHist();
let received = 0;
let failures = 0;
let reconnects = 0;
const failSamples = [];

function countPayloads(text) {
  const t = now();
  let i = text.indexOf('"t":');
  while (i >= 0) {
    const start = i + 4;
    let end = start;
    for (;;) {
      const c = text.charCodeAt(end);
      if ((c >= 48 && c <= 57) || c === 46) end++;
      else break;
    }
    record(hist, t - Number(text.slice(start, end)));
    received++;
    i = text.indexOf('"t":', end);
  }
}

/** A 64-byte JSON payload carrying its send time (ms, 3 decimals) and a sequence number. */
export function payload(seq, size = 64) {
  const head = `{"t":${now().toFixed(3)},"s":${seq},"p":"`;
  const pad = Math.max(0, size - head.length - 2);
  return `${head}${'x'.repeat(pad)}"}`;
}

function open({ port, peer, list, localAddresses, maxPending = 200, timeoutMs = 300_000 }) {
  return new Promise((resolve) => {
    let next = 0;
    let pending = 0;
    let opened = 0;
    let failed = 0;
    const deadline = setTimeout(finish, timeoutMs);
    let done = false;
    function finish() {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      resolve({ opened, failed, failSamples: failSamples.slice(0, 5) });
    }
    function launch() {
      while (pending < maxPending && next < list.length) {
        const [transport, channel] = list[next];
        const localAddress = localAddresses[next % localAddresses.length];
        next++;
        pending++;
        let settled = false;
        const settle = (ok, err) => {
          if (settled) {
            if (!ok) {
              failures++;
              if (failSamples.length < 20) failSamples.push(String(err?.message ?? err));
            }
            return;
          }
          settled = true;
          pending--;
          if (ok) opened++;
          else {
            failed++;
            if (failSamples.length < 20) failSamples.push(String(err?.message ?? err));
          }
          if (opened + failed === list.length) finish();
          else launch();
        };
        try {
          subs.push(
            openSubscriber(
              peer,
              transport,
              { port, channel, localAddress },
              {
                ready: () => settle(true),
                text: countPayloads,
                fail: (e) => settle(false, e),
                reconnect: () => reconnects++,
              },
            ),
          );
        } catch (e) {
          settle(false, e);
        }
      }
    }
    if (list.length === 0) finish();
    else launch();
  });
}

function stats() {
  return { received, failures, reconnects, hist: toSparse(hist), cpu: process.cpuUsage() };
}

/** Publishes `rate` messages/s round-robin over `channels` for `duration` s on `conns` connections. */
function publish({ port, channels, rate, duration, conns = 4, size = 64, localAddress }) {
  return new Promise((resolve) => {
    const pool = Array.from({ length: conns }, () => new PubConn(port, localAddress));
    const sentPer = new Array(channels.length).fill(0);
    const statuses = {};
    let sent = 0;
    let answered = 0;
    let seq = 0;
    let backlog = 0;
    let maxBacklog = 0;
    const total = Math.round(rate * duration);
    const t0 = now();
    const onAnswer = (conn) => (status) => {
      answered++;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (backlog > 0) {
        backlog--;
        sendOne(conn);
      } else if (answered === total) finish();
    };
    const sendOne = (conn) => {
      const ci = seq % channels.length;
      sentPer[ci]++;
      sent++;
      conn.post(`/pub/${channels[ci]}`, payload(seq++, size), onAnswer(conn));
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - t0) * rate) / 1000)) - sent - backlog;
      for (let k = 0; k < due; k++) {
        const conn = pool.find((c) => !c.busy);
        if (conn) sendOne(conn);
        else backlog++;
      }
      if (backlog > maxBacklog) maxBacklog = backlog;
      if (sent + backlog < total) timer = setTimeout(tick, Math.max(1, Math.min(5, 1000 / rate)));
    };
    let timer = setTimeout(tick, 0);
    const finish = () => {
      clearTimeout(timer);
      for (const c of pool) c.close();
      resolve({ sent, answered, sentPer, statuses, maxBacklog, seconds: (now() - t0) / 1000 });
    };
    if (total === 0) finish();
  });
}

/** Back-to-back publishes on `conns` keep-alive connections for `duration` s. */
function flood({ port, channels, duration, conns = 4, size = 64, localAddress }) {
  return new Promise((resolve) => {
    const pool = Array.from({ length: conns }, () => new PubConn(port, localAddress));
    const statuses = {};
    let seq = 0;
    let answered = 0;
    let active = conns;
    const t0 = now();
    const end = t0 + duration * 1000;
    const go = (conn) => {
      if (now() >= end) {
        if (--active === 0) {
          for (const c of pool) c.close();
          resolve({ answered, statuses, seconds: (now() - t0) / 1000 });
        }
        return;
      }
      conn.post(`/pub/${channels[seq % channels.length]}`, payload(seq++, size), (status) => {
        answered++;
        statuses[status] = (statuses[status] ?? 0) + 1;
        go(conn);
      });
    };
    for (const c of pool) go(c);
  });
}

/** Publishes `count` messages to one channel in order; returns the answer bodies. */
function prime({ port, channel, count, size = 64 }) {
  return new Promise((resolve) => {
    const conn = new PubConn(port);
    const bodies = [];
    const one = (i) => {
      if (i === count) {
        conn.close();
        resolve({ bodies });
        return;
      }
      conn.post(`/pub/${channel}`, payload(i, size), (status, body) => {
        bodies.push({ status, body });
        one(i + 1);
      });
    };
    one(0);
  });
}

/**
 * Long-poll round trips with a message waiting: `head` is a request whose cursor points before a
 * stored message, so every request is answered at once. `conns` keep-alive sockets, back to back.
 */
function lpRoundTrips({ port, head, duration, conns = 4 }) {
  return new Promise((resolve) => {
    const statuses = {};
    let answered = 0;
    let withPayload = 0;
    let active = conns;
    const t0 = now();
    const end = t0 + duration * 1000;
    const pool = [];
    for (let k = 0; k < conns; k++) {
      const conn = new PubConn(port);
      pool.push(conn);
      const go = () => {
        if (now() >= end) {
          if (--active === 0) {
            for (const c of pool) c.close();
            resolve({ answered, withPayload, statuses, seconds: (now() - t0) / 1000 });
          }
          return;
        }
        conn.raw(head, (status, body) => {
          answered++;
          if (body.includes('"t":')) withPayload++;
          statuses[status] = (statuses[status] ?? 0) + 1;
          go();
        });
      };
      go();
    }
  });
}

process.on('message', async (msg) => {
  let result;
  try {
    switch (msg.cmd) {
      case 'open':
        result = await open(msg.spec);
        break;
      case 'reset':
        hist = newHist();
        received = 0;
        failures = 0;
        reconnects = 0;
        result = { ok: true };
        break;
      case 'stats':
        result = stats();
        break;
      case 'publish':
        result = await publish(msg.spec);
        break;
      case 'flood':
        result = await flood(msg.spec);
        break;
      case 'lproundtrips':
        result = await lpRoundTrips(msg.spec);
        break;
      case 'prime':
        result = await prime(msg.spec);
        break;
      case 'close':
        for (const s of subs) s.close();
        subs.length = 0;
        result = { ok: true };
        setTimeout(() => process.exit(0), 50);
        break;
      default:
        throw new Error(`unknown command ${msg.cmd}`);
    }
    process.send({ id: msg.id, result });
  } catch (e) {
    process.send({ id: msg.id, error: String(e?.stack ?? e) });
  }
});
process.on('disconnect', () => process.exit(0));
