/**
 * The poll side of the fast lane (src/hub/http/fast-poll.ts): which polls it takes, that its
 * answers are the regular path's answers (status, headers, body), that a held poll is freed when
 * its connection goes, and that everything else reaches Node's HTTP server intact. Raw sockets:
 * keep-alive, pipelining and byte-level mutations are the point.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectionCounts } from '../../src/hub/http/limits.js';
import { publish, sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';
import { type Answer, answers, client, exchange, mutations, statuses } from '../helpers/raw-http.js';

const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;

let t: TestHub;
before(async () => {
  t = await startHub({ limits: { publishRatePerIp: 0 } });
});
after(() => t.close());

/** Runs `fn` and says how many polls the lane took meanwhile. */
async function counted(fn: () => Promise<void>): Promise<number> {
  const before = t.hub.core.stats.fastPolls;
  await fn();
  return t.hub.core.stats.fastPolls - before;
}

/** The same answer apart from what differs per request (Date; the length of a different cursor). */
function sameAnswer(fast: Answer, slow: Answer): void {
  assert.equal(fast.status, slow.status);
  const names = (a: Answer) => [...a.headers.keys()].sort();
  assert.deepEqual(names(fast), names(slow));
  for (const [k, v] of slow.headers) {
    if (k === 'date') continue;
    assert.equal(fast.headers.get(k), v, k);
  }
  assert.equal(fast.body, slow.body);
}

describe('poll fast lane', () => {
  it('answers a long-poll with a message waiting exactly as the regular path does', async () => {
    const id = await publish(t.url, 'fp.same', { a: 1 });
    await publish(t.url, 'fp.same', { a: 2 });
    const since = `since=${id.replace(/\d+$/, (n) => String(Number(n) - 1))}`;
    let fast: Answer | undefined;
    const n = await counted(async () => {
      [fast] = answers(await exchange(t.port, [get(`/sub/fp.same?${since}`, 'Accept: */*\r\n')]));
    });
    assert.equal(n, 1);
    // A header the lane does not take sends the same request through Node's server.
    let slow: Answer | undefined;
    const m = await counted(async () => {
      [slow] = answers(
        await exchange(t.port, [get(`/sub/fp.same?${since}`, 'Accept: */*\r\nX-Trace: 1\r\n')]),
      );
    });
    assert.equal(m, 0);
    assert.ok(fast && slow);
    sameAnswer(fast, slow);
    const body = JSON.parse(fast.body) as { messages: { data: unknown }[]; cursor: string };
    assert.deepEqual(
      body.messages.map((x) => x.data),
      [{ a: 1 }, { a: 2 }],
    );
  });

  it('answers an interval poll (mode=poll) and an expired long-poll as the regular path does', async () => {
    await publish(t.url, 'fp.empty', 0);
    const head = await (await fetch(`${t.url}/sub/fp.empty?last=1&mode=poll`)).json();
    const cursor = (head as { cursor: string }).cursor;
    for (const q of [
      `since=${cursor}&mode=poll`,
      `since=${cursor}&timeout=1`,
      `since=${cursor}&timeout=1&transport=longpoll`,
    ]) {
      const [fast] = answers(await exchange(t.port, [get(`/sub/fp.empty?${q}`)], 0, 1500));
      const [slow] = answers(await exchange(t.port, [get(`/sub/fp.empty?${q}`, 'X-Trace: 1\r\n')], 0, 1500));
      assert.ok(fast && slow, q);
      sameAnswer(fast, slow);
      assert.deepEqual(JSON.parse(fast.body), { messages: [], cursor });
    }
  });

  it('holds a long-poll until a message, then takes the next poll on the same connection', async () => {
    const c = client(t.port);
    const before = t.hub.core.stats.fastPolls;
    c.socket.write(get('/sub/fp.held,fp.other'));
    await waitFor(() => t.hub.core.subscriberCount('fp.held') === 1, 5000, 'the poll held');
    assert.equal(t.hub.core.stats.fastPolls, before + 1);
    const id = await publish(t.url, 'fp.held', { live: 1 });
    await waitFor(() => answers(c.text()).length === 1, 5000, 'the answer');
    const [first] = answers(c.text());
    assert.equal(first!.status, 200);
    assert.equal(first!.headers.get('connection'), 'keep-alive');
    const body = JSON.parse(first!.body) as { messages: { id: string }[]; cursor: string };
    assert.deepEqual(
      body.messages.map((x) => x.id),
      [id],
    );
    assert.equal(body.cursor, id);
    assert.equal(t.hub.core.subscriberCount('fp.held'), 0);
    // The next poll from the answer's cursor, on the same connection.
    c.socket.write(get(`/sub/fp.held,fp.other?since=${body.cursor}`));
    await waitFor(() => t.hub.core.subscriberCount('fp.other') === 1, 5000, 'the second poll held');
    const id2 = await publish(t.url, 'fp.other', 'two');
    await waitFor(() => answers(c.text()).length === 2, 5000, 'the second answer');
    const second = JSON.parse(answers(c.text())[1]!.body) as { messages: { id: string }[] };
    assert.deepEqual(
      second.messages.map((x) => x.id),
      [id2],
    );
    assert.equal(t.hub.core.stats.fastPolls, before + 2);
    c.socket.destroy();
    await c.closed;
  });

  it('frees a held poll and its connection slot when the client goes away', async () => {
    const open = connectionCounts(t.hub.core).total;
    const c = client(t.port);
    c.socket.write(get('/sub/fp.gone'));
    await waitFor(() => t.hub.core.subscriberCount('fp.gone') === 1, 5000, 'the poll held');
    assert.equal(connectionCounts(t.hub.core).total, open + 1);
    c.socket.destroy();
    await waitFor(() => t.hub.core.subscriberCount('fp.gone') === 0, 5000, 'the subscriber detached');
    await waitFor(() => connectionCounts(t.hub.core).total === open, 5000, 'the slot released');
  });

  it('does not read what a client sends while its poll is held, then answers it after', async () => {
    const c = client(t.port);
    // A pipelined request behind a held poll: answered only once the poll is.
    c.socket.write(get('/sub/fp.pipe') + get('/healthz'));
    await waitFor(() => t.hub.core.subscriberCount('fp.pipe') === 1, 5000, 'the poll held');
    await sleep(50);
    assert.equal(c.text(), '');
    await publish(t.url, 'fp.pipe', 1);
    await waitFor(() => answers(c.text()).length === 2, 5000, 'both answers');
    const a = answers(c.text());
    assert.deepEqual(
      a.map((x) => x.status),
      [200, 200],
    );
    assert.deepEqual(JSON.parse(a[1]!.body), { ok: true });
    c.socket.destroy();
  });

  it('leaves to Node what it does not take: SSE, JSONP, other parameters, errors', async () => {
    const cases: Array<[string, string, (a: Answer) => void]> = [
      ['/sub/fp.node?mode=poll&callback=cb', '', (a) => assert.match(a.body, /^\/\*\*\/cb\(/)],
      ['/sub/fp.node?mode=poll&x=1', '', (a) => assert.equal(a.status, 200)],
      ['/sub/fp.node?mode=poll&mode=poll', '', (a) => assert.equal(a.status, 200)],
      ['/sub/fp.node?since=nope', '', (a) => assert.equal(a.status, 400)],
      ['/sub/fp..bad?mode=poll', '', (a) => assert.equal(a.status, 400)],
      ['/sub/fp.node?transport=nope', '', (a) => assert.equal(a.status, 400)],
      ['/sub/fp.node?mode=poll', 'Last-Event-ID: nope\r\n', (a) => assert.equal(a.status, 400)],
    ];
    for (const [target, extra, check] of cases) {
      const n = await counted(async () => {
        const [a] = answers(await exchange(t.port, [get(target, extra)]));
        assert.ok(a, target);
        check(a);
      });
      assert.equal(n, 0, `${target} ${extra}`);
    }
    // SSE by Accept: Node's path starts the stream (the lane never holds a stream).
    const c = client(t.port);
    const n = await counted(async () => {
      c.socket.write(get('/sub/fp.node', 'Accept: text/event-stream\r\n'));
      await waitFor(() => c.text().includes('text/event-stream'), 5000, 'the SSE head');
    });
    assert.equal(n, 0);
    c.socket.destroy();
  });

  it('takes cross-origin polls with the CORS headers the regular path gives each Origin', async () => {
    const s = await startHub({
      cors: { origins: ['https://app.example', 'https://*.example.org'], credentials: true },
      limits: { maxConnectionsPerIp: 0 },
    });
    try {
      await publish(`${s.url}`, 'fp.cors', { x: 1 });
      const origins = ['https://app.example', 'https://a.example.org', 'https://evil.example', 'null', ''];
      for (const origin of origins) {
        const extra = `Origin: ${origin}\r\nSec-Fetch-Mode: cors\r\n`;
        const before = s.hub.core.stats.fastPolls;
        const [fast] = answers(await exchange(s.port, [get('/sub/fp.cors?last=1&mode=poll', extra)]));
        assert.equal(s.hub.core.stats.fastPolls, before + 1, origin);
        const [slow] = answers(
          await exchange(s.port, [get('/sub/fp.cors?last=1&mode=poll', `${extra}X-Trace: 1\r\n`)]),
        );
        assert.equal(s.hub.core.stats.fastPolls, before + 1, origin);
        assert.ok(fast && slow, origin);
        sameAnswer(fast, slow);
      }
      // An allowed origin gets itself back with credentials; a refused one gets no CORS grant.
      const allowed = answers(
        await exchange(s.port, [get('/sub/fp.cors?last=1&mode=poll', 'Origin: https://app.example\r\n')]),
      )[0]!;
      assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
      const refused = answers(
        await exchange(s.port, [get('/sub/fp.cors?last=1&mode=poll', 'Origin: https://evil.example\r\n')]),
      )[0]!;
      assert.equal(refused.headers.get('access-control-allow-origin'), undefined);
    } finally {
      await s.close();
    }
  });

  it('leaves channels that need credentials to Node (401 there)', async () => {
    const s = await startHub({
      auth: { key: 'x'.repeat(32) },
      channels: [{ pattern: 'open.*', subscribe: 'public' }],
    });
    try {
      const before = s.hub.core.stats.fastPolls;
      const [closed] = answers(await exchange(s.port, [get('/sub/secret.a?mode=poll', 'Cookie: a=b\r\n')]));
      assert.equal(closed!.status, 401);
      assert.equal(s.hub.core.stats.fastPolls, before);
      const [open] = answers(await exchange(s.port, [get('/sub/open.a?mode=poll', 'Cookie: a=b\r\n')]));
      assert.equal(open!.status, 200);
      assert.equal(s.hub.core.stats.fastPolls, before + 1);
    } finally {
      await s.close();
    }
  });

  it('answers the connection limit’s 503 as the regular path does, with an Origin’s headers too', async () => {
    const s = await startHub({
      cors: { origins: ['https://app.example'] },
      limits: { maxConnectionsPerIp: 1 },
    });
    try {
      const c = client(s.port);
      c.socket.write(get('/sub/fp.limit'));
      await waitFor(() => s.hub.core.subscriberCount('fp.limit') === 1, 5000, 'the poll held');
      for (const extra of ['', 'Origin: https://app.example\r\n']) {
        const [fast] = answers(await exchange(s.port, [get('/sub/fp.limit?mode=poll', extra)]));
        const [slow] = answers(
          await exchange(s.port, [get('/sub/fp.limit?mode=poll', `${extra}X-Trace: 1\r\n`)]),
        );
        assert.ok(fast && slow, extra);
        assert.equal(fast.status, 503);
        sameAnswer(fast, slow);
      }
      c.socket.destroy();
    } finally {
      await s.close();
    }
  });

  it('counts each connection from its accept, idle between polls too; the next is refused, then admitted once it closes', async () => {
    const s = await startHub({ limits: { maxConnectionsPerIp: 1 } });
    try {
      // A answers an interval poll and stays open, idle: it still holds its slot (and a descriptor).
      const a = client(s.port);
      a.socket.write(get('/sub/fp.count?mode=poll'));
      await waitFor(() => answers(a.text()).length === 1, 5000, 'the first answer');
      assert.equal(connectionCounts(s.hub.core).total, 1);
      const [b] = answers(await exchange(s.port, [get('/sub/fp.count?mode=poll')]));
      assert.equal(b!.status, 503);
      assert.equal(b!.headers.get('connection'), 'close');
      a.socket.destroy();
      await waitFor(() => connectionCounts(s.hub.core).total === 0, 5000, 'A released');
      const [c] = answers(await exchange(s.port, [get('/sub/fp.count?mode=poll')]));
      assert.equal(c!.status, 200);
    } finally {
      await s.close();
    }
  });

  it('frees a held poll at the peer’s FIN even after more bytes came, dropping them as Node does', async () => {
    const c = client(t.port);
    c.socket.write(get('/sub/fp.fin?timeout=30'));
    await waitFor(() => t.hub.core.subscriberCount('fp.fin') === 1, 5000, 'the poll held');
    c.socket.write('\r\n');
    await sleep(30);
    c.socket.write(get('/healthz'));
    await sleep(30);
    c.socket.end();
    await waitFor(() => t.hub.core.subscriberCount('fp.fin') === 0, 2000, 'the subscriber detached');
    await c.closed;
    assert.equal(c.text(), '');
  });

  it('closes a Connection: close answer’s socket even when bytes wait unread behind it', async () => {
    const server = t.hub.server!;
    const count = () => new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    const base = await count();
    const c = client(t.port);
    c.socket.write(get('/sub/fp.closing', 'Connection: close\r\n'));
    await waitFor(() => t.hub.core.subscriberCount('fp.closing') === 1, 5000, 'the poll held');
    // More than the lane keeps while a poll is held (limits.maxHeaderBytes): the rest is not read.
    c.socket.write('x'.repeat(64 * 1024));
    await sleep(50);
    await publish(t.url, 'fp.closing', 1);
    await c.closed;
    assert.match(c.text(), /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(c.text(), /\r\nConnection: close\r\n/i);
    const start = Date.now();
    while ((await count()) > base && Date.now() - start < 2000) await sleep(20);
    assert.equal(await count(), base);
  });

  it('answers held polls with Connection: close when the hub closes, without waiting for them', async () => {
    const s = await startHub();
    const c = client(s.port);
    c.socket.write(get('/sub/fp.bye'));
    await waitFor(() => s.hub.core.subscriberCount('fp.bye') === 1, 5000, 'the poll held');
    const started = Date.now();
    await s.close();
    await c.closed;
    assert.ok(Date.now() - started < 3000);
    const [a] = answers(c.text());
    assert.equal(a!.status, 200);
    assert.equal(a!.headers.get('connection'), 'close');
    assert.deepEqual((JSON.parse(a!.body) as { messages: unknown[] }).messages, []);
  });

  it('takes polls under the mount prefix, and only there', async () => {
    const s = await startHub({ prefix: '/cometa' });
    try {
      await publish(`${s.url}/cometa`, 'fp.prefix', 1);
      const [a] = answers(await exchange(s.port, [get('/cometa/sub/fp.prefix?last=1&mode=poll')]));
      assert.equal(a!.status, 200);
      assert.equal((JSON.parse(a!.body) as { messages: unknown[] }).messages.length, 1);
      assert.equal(s.hub.core.stats.fastPolls, 1);
      const [b] = answers(await exchange(s.port, [get('/sub/fp.prefix?last=1&mode=poll')]));
      assert.equal(b!.status, 404);
      assert.equal(s.hub.core.stats.fastPolls, 1);
    } finally {
      await s.close();
    }
  });

  it('is off with fastPoll: false', async () => {
    const s = await startHub({ fastPoll: false });
    try {
      const [a] = answers(await exchange(s.port, [get('/sub/fp.off?mode=poll')]));
      assert.equal(a!.status, 200);
      assert.equal(s.hub.core.stats.fastPolls, 0);
    } finally {
      await s.close();
    }
  });
});

describe('poll fast lane against Node’s parser (differential)', () => {
  let lane: TestHub;
  let node: TestHub;
  before(async () => {
    const limits = { maxConnections: 0, maxConnectionsPerIp: 0 };
    lane = await startHub({ limits });
    node = await startHub({ limits, fastPoll: false, fastPublish: false });
  });
  after(async () => {
    await lane.close();
    await node.close();
  });

  it('answers 400 mutated interval polls with the statuses Node’s path gives', async () => {
    const base = Buffer.from(
      get('/sub/fp.diff,fp.two?last=2&mode=poll&timeout=5', 'Accept: */*\r\nConnection: keep-alive\r\n'),
      'latin1',
    );
    const before = lane.hub.core.stats.fastPolls;
    const cases = mutations(base, 400, 20261125);
    const out: string[] = [];
    for (let i = 0; i < cases.length; i += 20) {
      await Promise.all(
        cases.slice(i, i + 20).map(async (b) => {
          const [a, n] = await Promise.all([statuses(lane.port, b), statuses(node.port, b)]);
          if (a !== n) out.push(`${JSON.stringify(b.toString('latin1'))}: lane ${a} / node ${n}`);
        }),
      );
    }
    assert.deepEqual(out, []);
    const taken = lane.hub.core.stats.fastPolls - before;
    // Enough mutations leave the request one the lane takes (19 of these 400 when written).
    assert.ok(taken >= 15, `the lane took ${taken} of 400`);
  });
});
