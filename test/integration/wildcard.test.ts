// Wildcard subscriptions (`scores.*`, `quotes.**`) on every transport and store: live delivery mixed
// with plain names, resume across the pattern in publish order with gaps, the bound on a resume's
// channels, authorization covering the whole pattern, limits, and WebSocket subscribe frames.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { RedisStore } from '../../src/hub/stores/redis.js';
import type { Envelope, GapData } from '../../src/protocol/envelope.js';
import { publish, sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { startRedisGate } from '../helpers/redis-gate.js';
import { openSubscription } from '../helpers/transport-clients.js';
import { DRIVERS, settled } from '../helpers/transport-suite.js';

const messages = (es: Envelope[]) => es.filter((e) => e.id !== null);
const tmp = mkdtempSync(join(tmpdir(), 'cometa-wild-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

let n = 0;
const fresh = () => `w${++n}`;

describe('wildcard subscriptions: every transport (memory store)', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ heartbeatMs: 100 });
  });
  after(() => t.close());

  for (const driver of DRIVERS) {
    it(`${driver}: a pattern mixed with a plain name, in publish order`, async () => {
      const root = fresh();
      const s = openSubscription(driver, t.url, [`${root}.*`, `${root}x.plain`]);
      await settled(t, s, `${root}.*`);
      const ids = [
        await publish(t.url, `${root}.a`, 1),
        await publish(t.url, `${root}x.plain`, 2),
        await publish(t.url, `${root}.b.deep`, 3), // `*` is one segment: not delivered
        await publish(t.url, `${root}.b`, 4),
        await publish(t.url, `${root}x.other`, 5),
        await publish(t.url, `${root}.a`, 6),
      ];
      const got = messages(await s.waitFor(4));
      await sleep(100);
      s.close();
      assert.deepEqual(
        messages(s.envelopes).map((e) => e.id),
        [ids[0], ids[1], ids[3], ids[5]],
      );
      assert.deepEqual(
        got.map((e) => e.channel),
        [`${root}.a`, `${root}x.plain`, `${root}.b`, `${root}.a`],
      );
    });

    it(`${driver}: ** matches any depth, and a channel matched twice arrives once`, async () => {
      const root = fresh();
      const s = openSubscription(driver, t.url, [`${root}.**`, `${root}.*`, `${root}.a`]);
      await settled(t, s, `${root}.**`);
      const ids = [
        await publish(t.url, `${root}.a`, 1),
        await publish(t.url, `${root}.b.c.d`, 2),
        await publish(t.url, root, 3), // `**` matches zero segments too
      ];
      await s.waitFor(3);
      await sleep(100);
      s.close();
      assert.deepEqual(
        messages(s.envelopes).map((e) => e.id),
        ids,
      );
    });
  }
});

const STORES: Array<[string, () => string]> = [
  ['memory', () => 'memory'],
  ['sqlite', () => `sqlite:${join(mkdtempSync(join(tmp, 's-')), 'c.db')}`],
  ['redis', () => `${redis.url}?prefix=w${Math.random().toString(36).slice(2, 8)}:`],
];

for (const [name, store] of STORES) {
  describe(`wildcard resume: ${name} store`, () => {
    let t: TestHub;
    before(async () => {
      t = await startHub({
        store: store(),
        retentionRules: [{ pattern: '*.short', maxMessages: 1 }],
        limits: { maxPatternChannels: 3 },
      });
    });
    after(() => t.close());

    it('a cursor resumes every matching channel once, in publish order, after a cut', async () => {
      const root = fresh();
      const before = await publish(t.url, `${root}.a`, 0);
      const s = openSubscription('sse', t.url, [`${root}.*`], { since: before });
      await settled(t, s, `${root}.*`);
      const first = await publish(t.url, `${root}.a`, 1);
      await s.waitFor(1);
      s.close(); // the cut
      const missed = [
        await publish(t.url, `${root}.b`, 2),
        await publish(t.url, `${root}x.no`, 3),
        await publish(t.url, `${root}.c`, 4),
        await publish(t.url, `${root}.a`, 5),
      ];
      for (const driver of DRIVERS) {
        const r = openSubscription(driver, t.url, [`${root}.*`], { since: first });
        const got = messages(await r.waitFor(3));
        r.close();
        assert.deepEqual(
          got.map((e) => e.id),
          [missed[0], missed[2], missed[3]],
          driver,
        );
      }
    });

    it('a channel whose history is gone since the cursor gets a gap, the others their messages', async () => {
      const root = fresh();
      const cursor = await publish(t.url, `${root}.a`, 0);
      const trimmed = [await publish(t.url, `${root}.short`, 1), await publish(t.url, `${root}.short`, 2)];
      const kept = await publish(t.url, `${root}.a`, 3);
      const r = openSubscription('longpoll', t.url, [`${root}.*`], { since: cursor });
      const got = await r.waitFor(3);
      r.close();
      const gap = got.find((e) => e.event === 'gap');
      assert.equal(gap?.channel, `${root}.short`);
      assert.equal((gap?.data as GapData | undefined)?.reason, 'trimmed');
      assert.deepEqual(
        messages(got).map((e) => e.id),
        [trimmed[1], kept],
      );
    });

    it('more active channels than limits.maxPatternChannels: a gap on the pattern, no replay', async () => {
      const root = fresh();
      const cursor = await publish(t.url, `${root}x.start`, 0);
      for (const c of ['a', 'b', 'c', 'd']) await publish(t.url, `${root}.${c}`, c);
      const r = openSubscription('poll', t.url, [`${root}.*`], { since: cursor });
      const got = await r.waitFor(1);
      r.close();
      assert.equal(got[0]?.event, 'gap');
      assert.equal(got[0]?.channel, `${root}.*`);
      assert.equal(messages(got).length, 0);
      // Within the bound, last-N takes the most recently active channels.
      const l = openSubscription('poll', t.url, [`${root}.*`], { last: 1 });
      const recent = await l.waitFor(3);
      l.close();
      assert.deepEqual(
        recent.map((e) => e.channel),
        [`${root}.b`, `${root}.c`, `${root}.d`],
      );
    });
  });
}

describe('wildcard resume: redis store, a channel first published between the lookup and the read', () => {
  // The hub reads Redis through a proxy that holds its history read until another hub (a second
  // store on the same keys) has published to a channel the lookup of `r.*` did not list.
  const start = {
    cursor: (since: string) => ({ since }),
    'last-N': () => ({ last: 5 }),
  } as const;
  for (const [name, options] of Object.entries(start))
    it(`${name}: that channel's message arrives once, after the replay`, async () => {
      const prefix = `between${Math.random().toString(36).slice(2, 8)}:`;
      const gate = await startRedisGate(redis);
      const t = await startHub({ store: `${gate.url}?prefix=${prefix}` });
      const other = new RedisStore(
        redis.url,
        { retentionFor: () => ({ maxMessages: 100, maxAgeMs: 60_000 }) },
        {
          prefix,
        },
      );
      try {
        await other.open();
        const a = await other.append('r.a', 'm', 0, Date.now());
        await other.append('r.b', 'm', 1, Date.now());
        let lookedUp = false;
        let published = false;
        gate.before = async (request) => {
          if (/zrevrangebyscore/i.test(request)) lookedUp = true;
          else if (lookedUp && !published && /evalsha/i.test(request)) {
            published = true;
            await other.append('r.new', 'm', 2, Date.now());
          }
        };
        const s = openSubscription('sse', t.url, ['r.*'], options(`${other.epoch}-${a.seq}`));
        await s.waitFor(name === 'cursor' ? 2 : 3);
        await sleep(300);
        s.close();
        assert.ok(published);
        const expected = name === 'cursor' ? ['r.b', 'r.new'] : ['r.a', 'r.b', 'r.new'];
        assert.deepEqual(
          messages(s.envelopes).map((e) => e.channel),
          expected,
        );
      } finally {
        await other.close();
        await t.close();
        await gate.close();
      }
    });
});

describe('wildcard subscriptions: authorization and limits', () => {
  const secret = 'wildcard-test-secret-of-32-bytes!!!!';
  let t: TestHub;
  before(async () => {
    t = await startHub({
      auth: { key: secret },
      channels: [
        { pattern: 'open.secret', subscribe: 'token' },
        { pattern: 'open.*', subscribe: 'public' },
      ],
      limits: { maxPatternsPerSubscription: 2 },
    });
  });
  after(() => t.close());
  const token = (subscribe: string[]) =>
    new SignJWT({ cometa: { subscribe } })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));
  const status = async (path: string, tok?: string) =>
    (
      await fetch(`${t.url}/sub/${path}?mode=poll`, {
        headers: tok === undefined ? {} : { authorization: `Bearer ${tok}` },
      })
    ).status;

  it('the grant must cover the whole pattern', async () => {
    assert.equal(await status('scores.*', await token(['scores.nba'])), 403);
    assert.equal(await status('scores.*', await token(['scores.*'])), 200);
    assert.equal(await status('scores.**', await token(['scores.*'])), 403);
    assert.equal(await status('scores.*', await token(['**'])), 200);
    assert.equal(await status('scores.nba', await token(['scores.*'])), 200);
  });

  it('a pattern is public only when every rule deciding its channels is', async () => {
    assert.equal(await status('open.x'), 200);
    assert.equal(await status('open.*'), 401, 'open.secret needs a token');
    assert.equal(await status('open.*', await token(['open.*'])), 200);
  });

  it('at most maxPatternsPerSubscription patterns', async () => {
    const r = await fetch(`${t.url}/sub/a.*,b.*,c.*?mode=poll`, {
      headers: { authorization: `Bearer ${await token(['**'])}` },
    });
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'ERR_TOO_MANY_CHANNELS');
  });

  it('maxPatternsPerSubscription 0 refuses wildcards as channel names', async () => {
    const h = await startHub({ limits: { maxPatternsPerSubscription: 0 } });
    try {
      const r = await fetch(`${h.url}/sub/a.*?mode=poll`);
      assert.equal(r.status, 400);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'ERR_BAD_CHANNEL');
    } finally {
      await h.close();
    }
  });
});

describe('wildcard subscriptions: WebSocket subscribe frames', () => {
  it('adds and removes a pattern on an open socket', async () => {
    const t = await startHub({});
    try {
      const ws = new WebSocket(`${t.url.replace('http', 'ws')}/sub/ws.plain`);
      const got: Array<Record<string, unknown>> = [];
      ws.on('message', (d) => got.push(JSON.parse(String(d)) as Record<string, unknown>));
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'subscribe', id: 1, channels: ['ws.*'] }));
      await waitFor(() => got.some((m) => m.id === 1), 5000, 'ack');
      assert.deepEqual(got.find((m) => m.id === 1)?.channels, ['ws.plain', 'ws.*']);
      const a = await publish(t.url, 'ws.room', 1);
      await waitFor(() => got.some((m) => m.id === a), 5000, 'message');
      ws.send(JSON.stringify({ type: 'unsubscribe', id: 2, channels: ['ws.*'] }));
      await waitFor(() => got.some((m) => m.id === 2), 5000, 'ack');
      await publish(t.url, 'ws.room', 2);
      const b = await publish(t.url, 'ws.plain', 3);
      await waitFor(() => got.some((m) => m.id === b), 5000, 'plain');
      ws.close();
      assert.deepEqual(
        got.filter((m) => m.channel !== undefined).map((m) => m.data),
        [1, 3],
      );
      ws.close();
    } finally {
      await t.close();
    }
  });
});
