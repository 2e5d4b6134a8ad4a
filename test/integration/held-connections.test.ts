/**
 * What a connection may hold, on both of `hub.listen()`'s paths (the fast lane and Node's HTTP
 * server): a publish head whose body never comes counts against the connection limits and is cut
 * at `limits.requestTimeoutMs`; the clients over the limit are refused while others are served; a
 * request the lane cannot parse (bare LF or CR line ends) is Node's at once; and complete requests
 * that stay open by design (held polls, streams) are not cut by the request deadline.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { connectionCounts } from '../../src/hub/http/limits.js';
import type { HubOptions } from '../../src/hub/index.js';
import { sleep, startHub, waitFor } from '../helpers/hub.js';
import { answers, exchange } from '../helpers/raw-http.js';

/** A complete publish head announcing a body that is never sent. */
const HELD =
  'POST /pub/held.x HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n';

/** A raw connection from `localAddress`, collecting what the hub sends; `closedAt` once it closes. */
function open(port: number, text: string, localAddress = '127.0.0.1') {
  const socket: Socket = connect({ port, host: '127.0.0.1', localAddress });
  let got = '';
  let closedAt = 0;
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    got += d;
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closedAt = Date.now();
  });
  socket.write(text);
  return { socket, got: () => got, closedAt: () => closedAt };
}

/** `GET /healthz` on a new connection from `localAddress`: its status (0 when it failed). */
function healthz(port: number, localAddress: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/healthz', localAddress, agent: false, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

// Each check on the lane and on Node's path: the two must hold connections the same way.
for (const [path, options] of [
  ['the fast lane', {}],
  ["Node's path", { fastPublish: false, fastPoll: false }],
] as const satisfies readonly (readonly [string, HubOptions])[]) {
  describe(`held connections on ${path}`, () => {
    it('counts held publish bodies per IP: the excess is refused with 503 at once, other clients are served', async () => {
      const t = await startHub({ ...options, limits: { maxConnectionsPerIp: 5 } });
      const held: ReturnType<typeof open>[] = [];
      try {
        for (let i = 0; i < 5; i++) held.push(open(t.port, HELD));
        await waitFor(() => connectionCounts(t.hub.core).total === 5, 5000, 'five held bodies counted');
        const extra = Array.from({ length: 5 }, () => open(t.port, HELD));
        await waitFor(() => extra.every((c) => c.closedAt() !== 0), 5000, 'the excess closed');
        for (const c of extra) {
          const [a] = answers(c.got());
          assert.equal(a?.status, 503, c.got());
          assert.match(a.body, /ERR_TOO_MANY_CONNECTIONS/);
        }
        assert.ok(
          held.every((c) => c.closedAt() === 0),
          'the admitted ones wait for their bodies',
        );
        assert.equal(connectionCounts(t.hub.core).total, 5);
        // Another address is served meanwhile: its count is its own.
        assert.equal(await healthz(t.port, '127.0.0.2'), 200);
        // A held body that does arrive is published.
        held[0]!.socket.write('x'.repeat(100));
        await waitFor(() => held[0]!.got().includes('\r\n\r\n{'), 5000, 'the late body answered');
        assert.equal(answers(held[0]!.got())[0]?.status, 202);
      } finally {
        for (const c of held) c.socket.destroy();
        await t.close();
      }
    });

    if (path === 'the fast lane')
      it('counts connections whose head is still arriving (slowloris) and idle ones: the excess is refused, others served', async () => {
        const t = await startHub({ ...options, limits: { maxConnectionsPerIp: 5 } });
        const held: ReturnType<typeof open>[] = [];
        try {
          // Heads that never end, on the lane and handed to Node (not a lane request line), and an
          // idle keep-alive connection.
          for (let i = 0; i < 2; i++) held.push(open(t.port, 'POST /pub/held.x HTTP/1.1\r\nHost: h\r\n'));
          for (let i = 0; i < 2; i++) held.push(open(t.port, 'GET /healthz HTTP/1.1\r\nHost: h\r\n'));
          held.push(open(t.port, 'GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n'));
          await waitFor(() => connectionCounts(t.hub.core).total === 5, 5000, 'five connections counted');
          await waitFor(() => held[4]!.got().includes('\r\n\r\n{'), 5000, 'the idle one answered');
          // A sixth from the same address is refused at its first request and closed.
          const extra = open(t.port, 'GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n');
          await waitFor(() => extra.closedAt() !== 0, 5000, 'the sixth closed');
          assert.equal(answers(extra.got())[0]?.status, 503, extra.got());
          // Another address is served.
          assert.equal(await healthz(t.port, '127.0.0.2'), 200);
          // Once one closes, the address has room again.
          held[0]!.socket.destroy();
          await waitFor(() => connectionCounts(t.hub.core).total === 4, 5000, 'one released');
          assert.equal(await healthz(t.port, '127.0.0.1'), 200);
        } finally {
          for (const c of held) c.socket.destroy();
          await t.close();
        }
      });

    it('answers 408 and closes a publish whose body has not arrived by limits.requestTimeoutMs', async () => {
      const t = await startHub({ ...options, limits: { headersTimeoutMs: 1000, requestTimeoutMs: 1500 } });
      try {
        const start = Date.now();
        // Part of the body, then nothing: the deadline counts from the request's first byte.
        const c = open(t.port, `${HELD}${'x'.repeat(40)}`);
        await waitFor(() => c.closedAt() !== 0, 8000, 'the held body cut');
        const took = c.closedAt() - start;
        assert.ok(took >= 1400 && took < 4000, `cut after ${took} ms`);
        const [a] = answers(c.got());
        assert.equal(a?.status, 408, c.got());
        assert.match(a.body, /ERR_REQUEST_TIMEOUT/);
        await waitFor(() => connectionCounts(t.hub.core).total === 0, 5000, 'its slot released');
        assert.equal(await t.hub.info('held.x').then((i) => i.stored), 0);
      } finally {
        await t.close();
      }
    });

    it('frees the slot of a publish whose client goes away mid-body at once, and answers 408 behind an answered request', async () => {
      const t = await startHub({ ...options, limits: { headersTimeoutMs: 1000, requestTimeoutMs: 1500 } });
      try {
        const gone = open(t.port, `${HELD}${'x'.repeat(10)}`);
        await waitFor(() => connectionCounts(t.hub.core).total === 1, 5000, 'the held body counted');
        gone.socket.destroy();
        // Not at the request deadline: as soon as the FIN arrives.
        await waitFor(() => connectionCounts(t.hub.core).total === 0, 1000, 'its slot released');
        // A publish answered, then a second one on the same connection whose body stops: the
        // 202 first, then the second's 408 (its own refusal, not held behind itself).
        const c = open(
          t.port,
          `POST /pub/held.y HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi${HELD}x`,
        );
        await waitFor(() => c.closedAt() !== 0, 8000, 'the second body cut');
        const got = answers(c.got());
        assert.deepEqual(
          got.map((a) => a.status),
          [202, 408],
          c.got(),
        );
        assert.equal(await t.hub.info('held.y').then((i) => i.stored), 1);
        assert.equal(await t.hub.info('held.x').then((i) => i.stored), 0);
      } finally {
        await t.close();
      }
    });

    it('does not cut a held long-poll or a stream at limits.requestTimeoutMs (their requests are complete)', async () => {
      const t = await startHub({
        ...options,
        heartbeatMs: 500,
        limits: { headersTimeoutMs: 1000, requestTimeoutMs: 1000 },
      });
      try {
        const poll = open(t.port, 'GET /sub/held.poll?timeout=4 HTTP/1.1\r\nHost: h\r\n\r\n');
        const sse = open(
          t.port,
          'GET /sub/held.sse HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n',
        );
        await sleep(3000);
        assert.equal(poll.closedAt(), 0);
        assert.equal(sse.closedAt(), 0);
        assert.equal(poll.got(), '', 'the poll is still held');
        await waitFor(() => poll.got().includes('\r\n\r\n{'), 5000, 'the poll answered at its own timeout');
        assert.equal(answers(poll.got())[0]?.status, 200);
        assert.match(sse.got(), /^HTTP\/1\.1 200/);
        assert.equal(sse.closedAt(), 0, 'the stream is open');
        poll.socket.destroy();
        sse.socket.destroy();
      } finally {
        await t.close();
      }
    });
  });
}

describe('requests the fast lane cannot parse', () => {
  const bare = {
    'bare LF line ends': 'POST /pub/bare.lf HTTP/1.1\nHost: h\nContent-Length: 2\n\nhi',
    'a bare LF ending the head': 'POST /pub/bare.lf HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\nhi',
    'bare CR line ends': 'POST /pub/bare.cr HTTP/1.1\rHost: h\rContent-Length: 2\r\rhi',
    'a bare LF in a poll': 'GET /sub/bare.lf?mode=poll HTTP/1.1\nHost: h\n\n',
  };
  for (const [what, text] of Object.entries(bare)) {
    it(`hands ${what} to Node at once, which answers as it does without the lane`, async () => {
      const fast = await startHub();
      const slow = await startHub({ fastPublish: false, fastPoll: false });
      try {
        const start = Date.now();
        const got = await exchange(fast.port, [text], 0, 3000);
        const took = Date.now() - start;
        const want = await exchange(slow.port, [text], 0, 3000);
        assert.ok(got.startsWith('HTTP/1.1 '), JSON.stringify(got));
        assert.equal(got.slice(0, 12), want.slice(0, 12), 'the same status as Node alone');
        // The answer comes from Node's parser right away, not at the lane's head deadline (30 s).
        assert.ok(took < 3000, `answered after ${took} ms`);
      } finally {
        await fast.close();
        await slow.close();
      }
    });
  }
});
