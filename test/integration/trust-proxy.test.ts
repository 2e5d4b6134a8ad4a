/**
 * `trustProxy` on a running hub, over raw sockets (the proxy's side of the wire): from a trusted
 * peer, the fast lane takes forwarded requests and every limit counts the forwarded client; from
 * any other peer the header changes nothing. nginx itself is in integrations.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionCounts } from '../../src/hub/http/limits.js';
import { startHub, waitFor } from '../helpers/hub.js';
import { answers, client, exchange } from '../helpers/raw-http.js';

const fwd = (client: string) => `X-Forwarded-For: ${client}\r\nX-Forwarded-Proto: https\r\n`;
const pub = (channel: string, extra: string) =>
  `POST /pub/${channel} HTTP/1.1\r\nHost: h\r\n${extra}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`;
const poll = (channel: string, extra: string) =>
  `GET /sub/${channel}?timeout=20 HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;
const sse = (channel: string, extra: string) =>
  `GET /sub/${channel} HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n${extra}\r\n`;

describe('trustProxy', () => {
  it('from a trusted proxy: the lane takes forwarded requests and the limits count each client', async () => {
    const t = await startHub({ trustProxy: ['127.0.0.1'], limits: { maxConnectionsPerIp: 1 } });
    const open: ReturnType<typeof client>[] = [];
    try {
      const core = t.hub.core;
      const before = core.stats.fastPublishes;
      const [a] = answers(await exchange(t.port, [pub('tp.pub', fwd('198.51.100.1'))]));
      assert.equal(a?.status, 202);
      assert.equal(core.stats.fastPublishes, before + 1, 'the lane took the forwarded publish');
      // A forwarded chain: the client is the address the trusted hop appended.
      const [b] = answers(await exchange(t.port, [pub('tp.pub', fwd('6.6.6.6, 198.51.100.1'))]));
      assert.equal(b?.status, 202);
      assert.equal(core.stats.fastPublishes, before + 2);

      // Held polls (the lane) and streams (Node's path) from two clients of one proxy address.
      // (Each kind from its own clients: a held poll still counts while the streams open.)
      for (const [kind, req, count, net] of [
        ['poll', poll, 'tp.poll', '198.51.100'],
        ['stream', sse, 'tp.sse', '203.0.113'],
      ] as const) {
        for (const who of [`${net}.1`, `${net}.2`]) {
          const c = client(t.port);
          open.push(c);
          c.socket.write(req(count, fwd(who)));
        }
        await waitFor(() => core.subscriberCount(count) === 2, 5000, `two ${kind}s from two clients`);
        // The same client again is over its limit of one.
        const [again] = answers(await exchange(t.port, [req(count, fwd(`${net}.2`))]));
        assert.equal(again?.status, 503, kind);
        assert.match(again.body, /ERR_TOO_MANY_CONNECTIONS/);
        // A third client is not.
        const c = client(t.port);
        open.push(c);
        c.socket.write(req(count, fwd(`${net}.3`)));
        await waitFor(() => core.subscriberCount(count) === 3, 5000, `a ${kind} from a third client`);
      }
      assert.equal(connectionCounts(core).ips, 6);
    } finally {
      for (const c of open) c.socket.destroy();
      await t.close();
    }
  });

  it('from a trusted proxy: the publish rate limit is each client’s, on the lane and on Node’s path', async () => {
    const t = await startHub({ trustProxy: ['127.0.0.1'], limits: { publishRatePerIp: 1 } });
    try {
      // A bucket holds two publishes (twice the rate); the lane takes the first request, Node the
      // second (X-Trace is not on the lane's list).
      for (const [extra, net] of [
        ['', '198.51.100'],
        ['X-Trace: 1\r\n', '203.0.113'],
      ] as const) {
        const statuses = [];
        for (const who of [`${net}.1`, `${net}.1`, `${net}.1`, `${net}.2`]) {
          const [a] = answers(await exchange(t.port, [pub('tp.rate', `${fwd(who)}${extra}`)]));
          statuses.push(a?.status);
        }
        assert.deepEqual(statuses, [202, 202, 429, 202], extra || 'lane');
      }
    } finally {
      await t.close();
    }
  });

  it('from any other peer: X-Forwarded-For is ignored and the request is Node’s', async () => {
    const t = await startHub({ trustProxy: ['10.0.0.0/8'], limits: { maxConnectionsPerIp: 1 } });
    const open: ReturnType<typeof client>[] = [];
    try {
      const core = t.hub.core;
      const before = core.stats.fastPublishes;
      const [a] = answers(await exchange(t.port, [pub('tp.other', fwd('198.51.100.1'))]));
      assert.equal(a?.status, 202);
      assert.equal(core.stats.fastPublishes, before, 'not taken by the lane');
      const c = client(t.port);
      open.push(c);
      c.socket.write(sse('tp.other', fwd('198.51.100.1')));
      await waitFor(() => core.subscriberCount('tp.other') === 1, 5000, 'one stream');
      // Another "client" by its header only: the same peer, over the limit.
      const [b] = answers(await exchange(t.port, [sse('tp.other', fwd('198.51.100.2'))]));
      assert.equal(b?.status, 503);
      assert.equal(connectionCounts(core).ips, 1);
    } finally {
      for (const c of open) c.socket.destroy();
      await t.close();
    }
  });
});
