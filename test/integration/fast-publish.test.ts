/**
 * The publish fast lane (src/hub/http/fast-lane.ts): what it takes, that its answers are the
 * regular path's answers, and that everything else (at the start of a connection or after fast
 * publishes, pipelined or split into single bytes) reaches Node's HTTP server intact. Raw sockets,
 * because chunk boundaries and pipelining are the point.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createHub, type Hub } from '../../src/hub/index.js';
import { sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';
import { type Answer, answers, exchange, mutations, statuses } from '../helpers/raw-http.js';

const pub = (channel: string, body: string, extra = '', type = 'application/json') =>
  `POST /pub/${channel} HTTP/1.1\r\nHost: h\r\nContent-Type: ${type}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

let t: TestHub;
before(async () => {
  t = await startHub();
});
after(() => t.close());

/** Runs `fn` and says how many publishes the lane answered meanwhile. */
async function counted(fn: () => Promise<void>): Promise<number> {
  const before = t.hub.core.stats.fastPublishes;
  await fn();
  return t.hub.core.stats.fastPublishes - before;
}

describe('publish fast lane', () => {
  it('answers a publish with the same status, headers and body as the regular path', async () => {
    let fast: Answer | undefined;
    const n = await counted(async () => {
      [fast] = answers(await exchange(t.port, [pub('fl.same', '{"a":1}')]));
    });
    assert.equal(n, 1);
    // The same request with a header the lane does not take goes through Node's server.
    let slow: Answer | undefined;
    const m = await counted(async () => {
      [slow] = answers(await exchange(t.port, [pub('fl.same', '{"a":2}', 'X-Trace: 1\r\n')]));
    });
    assert.equal(m, 0);
    assert.ok(fast && slow);
    assert.equal(fast.status, 202);
    assert.equal(slow.status, 202);
    const names = (a: Answer) => [...a.headers.keys()].sort();
    assert.deepEqual(names(fast), names(slow));
    for (const [k, v] of slow.headers) {
      if (k === 'date' || k === 'cometa-id' || k === 'content-length') continue;
      assert.equal(fast.headers.get(k), v, k);
    }
    const fb = JSON.parse(fast.body) as { id: string; channel: string };
    assert.equal(fb.channel, 'fl.same');
    assert.equal(fast.headers.get('cometa-id'), fb.id);
    // Byte for byte what the regular path writes (the lane builds it from a template), but the id.
    const sb = JSON.parse(slow.body) as { id: string };
    assert.equal(fast.body, slow.body.replace(sb.id, fb.id));
    const info = (await (await fetch(`${t.url}/pub/fl.same`)).json()) as { stored: number };
    assert.equal(info.stored, 2);
  });

  it('answers pipelined publishes in order, then hands the connection to Node for a GET', async () => {
    const text = await exchange(t.port, [
      pub('fl.pipe', '1') +
        pub('fl.pipe', '2') +
        pub('fl.pipe', '3') +
        'GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n',
    ]);
    const a = answers(text);
    assert.deepEqual(
      a.map((x) => x.status),
      [202, 202, 202, 200],
    );
    const ids = a.slice(0, 3).map((x) => (JSON.parse(x.body) as { id: string }).id);
    assert.deepEqual([...ids].sort(), ids, 'ids in publish order');
    assert.deepEqual(JSON.parse(a[3]!.body), { ok: true });
    // And publishes after Node took over still work (Node's server answers them).
    const later = answers(
      await exchange(t.port, [`GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n${pub('fl.pipe', '4')}`]),
    );
    assert.deepEqual(
      later.map((x) => x.status),
      [200, 202],
    );
  });

  it('answers concurrent and pipelined publishes in order on the SQLite store (group commit)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cometa-fl-'));
    const s = await startHub({ store: `sqlite:${join(dir, 'fl.db')}` });
    try {
      // Four connections at once, three pipelined publishes each: the store commits them in one
      // turn and the lane answers them after the commit (src/hub/http/fast-lane.ts, answer()).
      const texts = await Promise.all(
        [0, 1, 2, 3].map((c) =>
          exchange(s.port, [
            pub('fl.sql', `${c + 1}1`) + pub('fl.sql', `${c + 1}2`) + pub('fl.sql', `${c + 1}3`),
          ]),
        ),
      );
      for (const text of texts) {
        const a = answers(text);
        assert.deepEqual(
          a.map((x) => x.status),
          [202, 202, 202],
        );
        const seqs = a.map((x) => Number((JSON.parse(x.body) as { id: string }).id.split('-').pop()));
        assert.deepEqual(
          [...seqs].sort((x, y) => x - y),
          seqs,
          'ids in publish order',
        );
      }
      const stored = await s.hub.store.last(['fl.sql'], 20);
      assert.deepEqual(
        stored.messages.map((m) => m.data).sort(),
        [1, 2, 3].flatMap((i) => [1, 2, 3, 4].map((c) => Number(`${c}${i}`))).sort(),
      );
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes a request split into single bytes', async () => {
    const n = await counted(async () => {
      const a = answers(await exchange(t.port, [...pub('fl.bytes', '{"split":true}')], 1));
      assert.equal(a.length, 1);
      assert.equal(a[0]!.status, 202);
    });
    assert.equal(n, 1);
  });

  it('takes a multipart publish (an asynchronous parser) with publishes pipelined around it', async () => {
    // The lane reads into one shared buffer (shared-read.ts): the multipart body is parsed after
    // the read that brought it, and the requests behind it wait, so both must be copies.
    const body = '--b\r\nContent-Disposition: form-data; name="score"\r\n\r\n3:1\r\n--b--\r\n';
    const n = await counted(async () => {
      const a = answers(
        await exchange(t.port, [
          pub('fl.mp', '{"n":1}') +
            pub('fl.mp', body, '', 'multipart/form-data; boundary=b') +
            pub('fl.mp', '{"n":3}'),
        ]),
      );
      assert.deepEqual(
        a.map((x) => x.status),
        [202, 202, 202],
      );
    });
    assert.equal(n, 3);
    const stored = await t.hub.store.last(['fl.mp'], 3);
    assert.deepEqual(
      stored.messages.map((m) => m.data),
      [{ n: 1 }, { score: '3:1' }, { n: 3 }],
    );
  });

  it('keeps a partial request intact while other connections are read into the shared buffer', async () => {
    const a = connect(t.port, '127.0.0.1');
    let got = '';
    a.setEncoding('latin1');
    a.on('data', (d: string) => {
      got += d;
    });
    const whole = pub('fl.part', '{"from":"a","pad":"aaaaaaaaaaaaaaaa"}');
    const cut = whole.length - 10;
    a.write(whole.slice(0, cut));
    await sleep(50);
    // Another connection's requests are read into the same buffer meanwhile.
    const b = answers(
      await exchange(t.port, [pub('fl.part', '{"from":"b","pad":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}')]),
    );
    assert.equal(b[0]!.status, 202);
    a.write(whole.slice(cut));
    await waitFor(() => got.includes('"channel"'), 5000, 'the answer to the partial request');
    a.destroy();
    assert.equal(answers(got)[0]!.status, 202);
    const stored = await t.hub.store.last(['fl.part'], 2);
    assert.deepEqual(
      stored.messages.map((m) => (m.data as { from: string }).from),
      ['b', 'a'],
    );
  });

  it('takes a large body arriving in many small writes', async () => {
    const text = JSON.stringify({ blob: 'y'.repeat(200_000) });
    const request = pub('fl.large', text);
    const parts: string[] = [];
    for (let i = 0; i < request.length; i += 1000) parts.push(request.slice(i, i + 1000));
    const n = await counted(async () => {
      const a = answers(await exchange(t.port, parts));
      assert.equal(a[0]!.status, 202);
    });
    assert.equal(n, 1);
    const stored = await t.hub.store.last(['fl.large'], 1);
    assert.equal((stored.messages[0]!.data as { blob: string }).blob.length, 200_000);
  });

  it('cuts a head that trickles in for longer than limits.headersTimeoutMs', async () => {
    const slow = await startHub({ limits: { headersTimeoutMs: 1000 } });
    try {
      const socket = connect(slow.port, '127.0.0.1');
      socket.on('error', () => {});
      const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
      const started = Date.now();
      socket.write('POST /pub/fl.slow HTTP/1.1\r\nHost: h\r\nAccept: ');
      let open = true;
      void closed.then(() => {
        open = false;
      });
      for (let i = 0; i < 40 && open; i++) {
        await sleep(100);
        if (open) socket.write('a');
      }
      const at = await closed;
      assert.ok(at - started < 3000, `cut after ${at - started} ms`);
      assert.ok(at - started >= 1000, `cut too early: ${at - started} ms`);
    } finally {
      await slow.close();
    }
  });

  it('closes a lane connection idle for limits.keepAliveTimeoutMs', async () => {
    const idle = await startHub({ limits: { keepAliveTimeoutMs: 1000 } });
    try {
      const started = Date.now();
      // The client never closes: the hub must.
      const text = await exchange(idle.port, [pub('fl.idle', '1')], 0, 8000);
      const took = Date.now() - started;
      assert.equal(answers(text)[0]!.status, 202);
      assert.ok(took >= 1000 && took < 3500, `closed after ${took} ms`);
    } finally {
      await idle.close();
    }
  });

  it('hands smuggling-shaped and unusual requests to Node, which refuses or answers them', async () => {
    const cases: Array<[string, string, number]> = [
      ['Transfer-Encoding with Content-Length', pub('fl.x', '{}', 'Transfer-Encoding: chunked\r\n'), 400],
      ['two Content-Lengths', pub('fl.x', '{}', 'Content-Length: 2\r\n'), 400],
      ['obs-fold', pub('fl.x', '{}', 'Accept: a\r\n b\r\n'), 400],
      ['a bare LF inside the head', 'POST /pub/fl.x HTTP/1.1\r\nHost: h\nContent-Length: 2\r\n\r\n{}', 400],
      ['a query', pub('fl.x?event=e', '{}'), 202],
      ['an encoded channel', pub('fl.%78', '{}'), 202],
      ['an Origin', pub('fl.x', '{}', 'Origin: http://a.example\r\n'), 202],
      ['HTTP/1.0', 'POST /pub/fl.x HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}', 202],
      ['Expect: 100-continue', pub('fl.x', '{}', 'Expect: 100-continue\r\n'), 202],
      ['lower-case method', 'post /pub/fl.x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}', 400],
      ['no Host', 'POST /pub/fl.x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}', 400],
    ];
    for (const [what, request, status] of cases) {
      const n = await counted(async () => {
        const text = await exchange(t.port, [request]);
        const first = text.split('\r\n', 1)[0]!;
        // Expect: 100-continue gets its interim answer first.
        const final = first.includes(' 100 ') ? text.slice(text.indexOf('\r\n\r\n') + 4) : text;
        assert.equal(Number(final.split(' ', 2)[1]), status, `${what}: ${JSON.stringify(text)}`);
      });
      assert.equal(n, 0, `${what} went through the fast lane`);
    }
  });

  it('hands a body over limits.maxBodyBytes to Node (413) and answers bad bodies itself', async () => {
    const small = await startHub({ limits: { maxBodyBytes: 16 } });
    try {
      const big = answers(await exchange(small.port, [pub('fl.big', JSON.stringify('x'.repeat(40)))]));
      assert.equal(big[0]!.status, 413);
      assert.equal(small.hub.core.stats.fastPublishes, 0);
      const bad = answers(
        await exchange(small.port, [pub('fl.bad', '{nope'), pub('fl.bad', 'x', '', 'image/png')]),
      );
      assert.deepEqual(
        bad.map((a) => [a.status, (JSON.parse(a.body) as { error: { code: string } }).error.code]),
        [
          [400, 'ERR_BAD_BODY'],
          [415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
        ],
      );
      assert.equal(small.hub.core.stats.fastPublishes, 2);
    } finally {
      await small.close();
    }
  });

  it('applies the publish rate limit and Connection: close', async () => {
    const limited = await startHub({ limits: { publishRatePerIp: 1 } });
    try {
      const a = answers(
        await exchange(limited.port, [pub('fl.r', '1') + pub('fl.r', '2') + pub('fl.r', '3')]),
      );
      assert.deepEqual(
        a.map((x) => x.status),
        [202, 202, 429],
      );
      assert.ok(Number(a[2]!.headers.get('retry-after')) >= 1);
      assert.equal(limited.hub.core.stats.rateLimited, 1);
      // Connection: close ends the connection after the answer (the client has not closed yet).
      const closed = await exchange(limited.port, [pub('fl.c', '1', 'Connection: close\r\n')], 0, 5000);
      assert.match(closed, /\r\nConnection: close\r\n/);
    } finally {
      await limited.close();
    }
  });

  it('counts a publishing connection against limits.maxConnectionsPerIp until it closes', async () => {
    const one = await startHub({ limits: { maxConnectionsPerIp: 1 } });
    try {
      const first = connect(one.port, '127.0.0.1');
      let got = '';
      first.setEncoding('latin1');
      first.on('data', (d: string) => {
        got += d;
      });
      first.write(pub('fl.l', '1'));
      await waitFor(() => got.includes('\r\n\r\n{'), 5000, 'the first answer');
      const second = answers(await exchange(one.port, [pub('fl.l', '2')]));
      assert.equal(second[0]!.status, 503);
      assert.match(second[0]!.body, /ERR_TOO_MANY_CONNECTIONS/);
      first.destroy();
      await waitFor(() => one.hub.core.stats.connectionsRefused === 1, 5000, 'the refusal');
      await sleep(50);
      const third = answers(await exchange(one.port, [pub('fl.l', '3')]));
      assert.equal(third[0]!.status, 202);
    } finally {
      await one.close();
    }
  });

  it('leaves publishes that need credentials to the regular path', async () => {
    const secret = 'a-test-secret-that-is-long-enough-for-hs256';
    const authed = await startHub({ auth: { key: secret } });
    try {
      const a = answers(await exchange(authed.port, [pub('fl.a', '1')]));
      assert.equal(a[0]!.status, 401);
      assert.equal(authed.hub.core.stats.fastPublishes, 0);
    } finally {
      await authed.close();
    }
  });

  it('is off with fastPublish: false', async () => {
    const off = await startHub({ fastPublish: false });
    try {
      const a = answers(await exchange(off.port, [pub('fl.off', '1')]));
      assert.equal(a[0]!.status, 202);
      assert.equal(off.hub.core.stats.fastPublishes, 0);
    } finally {
      await off.close();
    }
  });

  it('delivers a fast publish to subscribers and keeps WebSocket upgrades working', async () => {
    const res = await fetch(`${t.url}/sub/fl.live?mode=poll`);
    const body = (await res.json()) as { cursor: string };
    const poll = fetch(`${t.url}/sub/fl.live?transport=longpoll&timeout=5&since=${body.cursor}`);
    await waitFor(() => t.hub.core.subscriberCount('fl.live') > 0, 5000, 'a held poll');
    answers(await exchange(t.port, [pub('fl.live', '{"live":1}')], 0, 50));
    const got = (await (await poll).json()) as { messages: Array<{ data: unknown }> };
    assert.deepEqual(
      got.messages.map((m) => m.data),
      [{ live: 1 }],
    );
    const ws = new WebSocket(`ws://127.0.0.1:${t.port}/sub/fl.live`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.close();
  });

  it('closes idle connections on hub.close() and answers a publish in flight first', async () => {
    const hub: Hub = createHub({ store: 'memory', logger: false });
    const { port } = await hub.listen(0, '127.0.0.1');
    const idle = exchange(port, [pub('fl.z', '1')], 0, 60_000);
    await waitFor(() => hub.core.stats.published === 1, 5000, 'the publish');
    const started = Date.now();
    await hub.close();
    const text = await idle;
    assert.equal(answers(text)[0]!.status, 202);
    assert.ok(Date.now() - started < 5000, 'close did not wait for the idle connection');
  });
});

describe('publish fast lane against Node’s parser (differential)', () => {
  let lane: TestHub;
  let node: TestHub;
  before(async () => {
    const limits = { publishRatePerIp: 0, maxConnections: 0, maxConnectionsPerIp: 0 };
    lane = await startHub({ limits });
    node = await startHub({ limits, fastPublish: false });
  });
  after(async () => {
    await lane.close();
    await node.close();
  });

  /** Sends each case to both hubs (20 at a time); returns [case, lane statuses, Node statuses]. */
  async function both(cases: Buffer[]): Promise<Array<[string, string, string]>> {
    const out: Array<[string, string, string]> = [];
    for (let i = 0; i < cases.length; i += 20) {
      await Promise.all(
        cases.slice(i, i + 20).map(async (b) => {
          const [a, n] = await Promise.all([statuses(lane.port, b), statuses(node.port, b)]);
          out.push([JSON.stringify(b.toString('latin1')), a, n]);
        }),
      );
    }
    return out;
  }

  it('answers 400 mutated single publishes with the statuses Node’s path gives', async () => {
    const base = Buffer.from(
      pub('fl.diff', '{"a":1}', 'Accept: */*\r\nConnection: keep-alive\r\n'),
      'latin1',
    );
    const fastBefore = lane.hub.core.stats.fastPublishes;
    const results = await both(mutations(base, 400, 20261124));
    assert.deepEqual(
      results.filter(([, a, n]) => a !== n).map(([c, a, n]) => `${c}: lane ${a} / node ${n}`),
      [],
    );
    // Enough mutations left the request one the lane takes (37 of these 400 when written).
    const taken = lane.hub.core.stats.fastPublishes - fastBefore;
    assert.ok(taken >= 30, `the lane took ${taken} of 400`);
  });

  it('answers pipelined pairs as Node’s path does whenever Node answers both', async () => {
    // When the second request of a pair is malformed, both answer the first and then refuse the
    // second with 400 (Node's path after the first answer: http/order.ts). Only the cases Node
    // answers in full are compared.
    const base = Buffer.from(pub('fl.diff', '{"a":1}') + pub('fl.diff', '"second"'), 'latin1');
    const results = await both(mutations(base, 300, 7));
    const full = results.filter(([, , n]) => n.split(',').length === 2);
    assert.ok(full.length > 30, `${full.length} pairs answered in full`);
    assert.deepEqual(
      full.filter(([, a, n]) => a !== n).map(([c, a, n]) => `${c}: lane ${a} / node ${n}`),
      [],
    );
  });
});
