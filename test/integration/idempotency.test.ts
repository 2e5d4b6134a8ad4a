// Idempotent publish: `Idempotency-Key` on POST /pub (through hub.listen()'s fast lane too), the
// WebSocket publish frame's `key`, `cometa publish --key`, on every store; across hubs on Redis and
// across a restart with SQLite; the window, the per-channel bound and the scope by credential.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { publish as cliPublish } from '../../src/cli/publish.js';
import { sleep, startHub, type TestHub } from '../helpers/hub.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

interface Answer {
  status: number;
  body: { id?: string; duplicate?: boolean; error?: { code: string } };
  replayed: string | null;
}

async function post(
  url: string,
  channel: string,
  data: unknown,
  key?: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${url}/pub/${channel}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
      ...headers,
    },
    body: JSON.stringify(data),
  });
  return {
    status: res.status,
    body: (await res.json()) as Answer['body'],
    replayed: res.headers.get('idempotent-replayed'),
  };
}

async function stored(url: string, channel: string): Promise<number> {
  const res = await fetch(`${url}/pub/${channel}`);
  return ((await res.json()) as { stored: number }).stored;
}

const tmp = mkdtempSync(join(tmpdir(), 'cometa-idem-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

const STORES: Array<[string, () => string]> = [
  ['memory', () => 'memory'],
  ['sqlite', () => `sqlite:${join(mkdtempSync(join(tmp, 's-')), 'c.db')}`],
  ['redis', () => `${redis.url}?prefix=${`i${Math.random().toString(36).slice(2, 8)}:`}`],
];

for (const [name, store] of STORES) {
  describe(`idempotent publish: ${name} store`, () => {
    let h: TestHub;
    before(async () => {
      h = await startHub({ store: store() });
    });
    after(() => h.close());

    it('a retry with the same key answers the first id and stores nothing', async () => {
      const fast = h.hub.core.stats.fastPublishes;
      const first = await post(h.url, 'orders', { n: 1 }, 'k-1');
      assert.equal(first.status, 202);
      assert.equal(first.replayed, null);
      assert.equal(first.body.duplicate, undefined);
      const again = await post(h.url, 'orders', { n: 1 }, 'k-1');
      assert.equal(again.status, 202);
      assert.equal(again.body.id, first.body.id);
      assert.equal(again.body.duplicate, true);
      assert.equal(again.replayed, 'true');
      assert.equal(await stored(h.url, 'orders'), 1);
      // Another key, and no key at all, store again.
      const other = await post(h.url, 'orders', { n: 1 }, 'k-2');
      // hub.listen()'s fast lane hands publishes with an Idempotency-Key to Node's path.
      assert.equal(h.hub.core.stats.fastPublishes, fast);
      assert.notEqual(other.body.id, first.body.id);
      const plain = await post(h.url, 'orders', { n: 1 });
      assert.notEqual(plain.body.id, other.body.id);
      assert.equal(await stored(h.url, 'orders'), 3);
      assert.equal(h.hub.core.stats.duplicates, 1);
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      assert.match(metrics, /^cometa_publish_duplicates_total 1$/m);
    });

    it('keys are scoped by channel', async () => {
      const a = await post(h.url, 'scope.a', 1, 'same');
      const b = await post(h.url, 'scope.b', 1, 'same');
      assert.equal(b.body.duplicate, undefined);
      assert.notEqual(a.body.id, b.body.id);
    });

    it('the same key with other data is refused with 422 and stores nothing', async () => {
      await post(h.url, 'mismatch', { n: 1 }, 'k');
      const other = await post(h.url, 'mismatch', { n: 2 }, 'k');
      assert.equal(other.status, 422);
      assert.equal(other.body.error?.code, 'ERR_IDEMPOTENCY_MISMATCH');
      assert.equal(await stored(h.url, 'mismatch'), 1);
    });

    it('concurrent retries store once', async () => {
      const answers = await Promise.all(Array.from({ length: 5 }, () => post(h.url, 'burst', 'x', 'b-1')));
      assert.equal(new Set(answers.map((a) => a.body.id)).size, 1);
      assert.equal(answers.filter((a) => a.body.duplicate === true).length, 4);
      assert.equal(await stored(h.url, 'burst'), 1);
    });

    it('a WebSocket publish frame with a key', async () => {
      const ws = new WebSocket(`${h.url.replace('http', 'ws')}/sub/ws.idem`);
      const acks: Array<Record<string, unknown>> = [];
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as Record<string, unknown>;
        if (m.type !== undefined) acks.push(m);
      });
      await new Promise((r) => ws.once('open', r));
      for (const id of [1, 2])
        ws.send(JSON.stringify({ type: 'publish', id, channel: 'ws.idem', data: 'hi', key: 'w-1' }));
      ws.send(JSON.stringify({ type: 'publish', id: 3, channel: 'ws.idem', data: 'hi', key: '' }));
      const end = Date.now() + 5000;
      while (acks.length < 3 && Date.now() < end) await sleep(10);
      ws.close();
      const [one, two, bad] = [1, 2, 3].map((id) => acks.find((a) => a.id === id));
      assert.equal(one?.type, 'ack');
      assert.equal(two?.type, 'ack');
      assert.equal(two?.messageId, one?.messageId);
      assert.equal(two?.duplicate, true);
      assert.equal(one?.duplicate, undefined);
      assert.equal(bad?.type, 'error');
      assert.equal((bad?.error as { code: string } | undefined)?.code, 'ERR_BAD_IDEMPOTENCY_KEY');
      assert.equal(await stored(h.url, 'ws.idem'), 1);
    });
  });
}

describe('idempotent publish: keys and bounds', () => {
  let h: TestHub;
  before(async () => {
    h = await startHub({ idempotency: { windowMs: 1000, maxKeysPerChannel: 2 } });
  });
  after(() => h.close());

  it('a malformed key is refused with 400 before anything is stored', async () => {
    for (const key of ['"', '"a', 'a b', 'x'.repeat(256), '"a"b"', '\u00e9t\u00e9']) {
      const res = await fetch(`${h.url}/pub/bad`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: '1',
      });
      assert.equal(res.status, 400, key);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_BAD_IDEMPOTENCY_KEY');
    }
    assert.equal(await stored(h.url, 'bad'), 0);
  });

  it('a Structured Field string key ("…") is the same key as its content', async () => {
    const a = await post(h.url, 'sf', 1, '"abc"');
    const b = await post(h.url, 'sf', 1, 'abc');
    assert.equal(b.body.id, a.body.id);
    assert.equal(b.body.duplicate, true);
  });

  it('a key is forgotten after the window', async () => {
    const a = await post(h.url, 'window', 1, 'w');
    await sleep(1100);
    const b = await post(h.url, 'window', 1, 'w');
    assert.equal(b.body.duplicate, undefined);
    assert.notEqual(b.body.id, a.body.id);
  });

  it('at most maxKeysPerChannel keys are kept per channel, the oldest forgotten first', async () => {
    const a = await post(h.url, 'bounded', 1, 'a');
    await post(h.url, 'bounded', 1, 'b');
    await post(h.url, 'bounded', 1, 'c');
    const c = await post(h.url, 'bounded', 1, 'c');
    assert.equal(c.body.duplicate, true);
    const again = await post(h.url, 'bounded', 1, 'a');
    assert.equal(again.body.duplicate, undefined, 'a was forgotten');
    assert.notEqual(again.body.id, a.body.id);
  });

  it('cometa publish --key prints the first id again', async () => {
    const printed: string[] = [];
    const log = console.log;
    console.log = (s: unknown) => printed.push(String(s));
    try {
      await cliPublish([h.url, 'cli', '{"n":1}', '--key', 'c-1']);
      await cliPublish([h.url, 'cli', '{"n":1}', '--key', 'c-1']);
    } finally {
      console.log = log;
    }
    assert.equal(printed.length, 2);
    assert.equal(printed[0], printed[1]);
    assert.equal(await stored(h.url, 'cli'), 1);
  });

  it('hub.publish() with a key', async () => {
    const a = await h.hub.publish('api', { n: 1 }, { key: 'p-1' });
    const b = await h.hub.publish('api', { n: 1 }, { key: 'p-1' });
    assert.equal(a, b);
    assert.equal(await stored(h.url, 'api'), 1);
  });
});

describe('idempotent publish: scoped by credential', () => {
  const secret = 'idempotency-test-secret-of-32-bytes!!';
  let h: TestHub;
  before(async () => {
    h = await startHub({ auth: { key: secret } });
  });
  after(() => h.close());
  const token = (sub: string) =>
    new SignJWT({ cometa: { publish: ['**'], subscribe: ['**'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(sub)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(secret));

  it("two subjects using the same key do not see each other's id", async () => {
    const alice = { authorization: `Bearer ${await token('alice')}` };
    const bob = { authorization: `Bearer ${await token('bob')}` };
    const a = await post(h.url, 'shared', 1, 'same', alice);
    const b = await post(h.url, 'shared', 1, 'same', bob);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.equal(b.body.duplicate, undefined);
    assert.notEqual(a.body.id, b.body.id);
    const a2 = await post(h.url, 'shared', 1, 'same', alice);
    assert.equal(a2.body.id, a.body.id);
    assert.equal(a2.body.duplicate, true);
  });
});

describe('idempotent publish: scoped by the member a hub.authorize hook names', () => {
  let h: TestHub;
  before(async () => {
    h = await startHub({ channels: [{ pattern: 'private.**', publish: 'token', subscribe: 'public' }] });
    // The app's session cookie names the user; the hook says who publishes.
    h.hub.authorize(({ req }) => {
      const sid = /sid=(\w+)/.exec(String(req?.headers.cookie ?? ''))?.[1];
      return sid === undefined ? false : { member: sid };
    });
  });
  after(() => h.close());

  it("two users of the app using the same key do not see each other's id, over HTTP and WebSocket", async () => {
    // From the hub's own pages: a cookie-borne publish needs an Origin the CSRF rules allow.
    const alice = { cookie: 'sid=alice', origin: h.url, 'x-cometa': '1' };
    const bob = { cookie: 'sid=bob', origin: h.url, 'x-cometa': '1' };
    const a = await post(h.url, 'private.room', 1, 'same', alice);
    const b = await post(h.url, 'private.room', 1, 'same', bob);
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(b.status, 202, JSON.stringify(b.body));
    assert.equal(b.body.duplicate, undefined);
    assert.notEqual(a.body.id, b.body.id);
    const a2 = await post(h.url, 'private.room', 1, 'same', alice);
    assert.equal(a2.body.id, a.body.id);
    assert.equal(a2.body.duplicate, true);
    // Bob's WebSocket publish with the same key is his own: a new message; his retry is not.
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}/sub/private.room`, { headers: bob });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const acks: Array<{ messageId?: string; duplicate?: boolean }> = [];
    ws.on('message', (m) => {
      const f = JSON.parse(String(m)) as { type: string; messageId?: string; duplicate?: boolean };
      if (f.type === 'ack') acks.push(f);
    });
    for (const id of [1, 2])
      ws.send(JSON.stringify({ type: 'publish', channel: 'private.room', data: 1, key: 'ws-same', id }));
    const c = await post(h.url, 'private.room', 1, 'ws-same', alice);
    await sleep(300);
    ws.close();
    assert.equal(c.body.duplicate, undefined, "alice is not answered with bob's id");
    assert.equal(acks.length, 2, JSON.stringify(acks));
    assert.equal(acks[1]?.duplicate, true, JSON.stringify(acks));
    assert.notEqual(acks[0]?.messageId, c.body.id);
    assert.equal(await stored(h.url, 'private.room'), 4);
  });
});

describe('idempotent publish: across hubs and restarts', () => {
  it('Redis: a retry on another hub answers the first id', async () => {
    const store = `${redis.url}?prefix=x${Math.random().toString(36).slice(2, 8)}:`;
    const a = await startHub({ store });
    const b = await startHub({ store });
    try {
      const first = await post(a.url, 'orders', { n: 1 }, 'r-1');
      const again = await post(b.url, 'orders', { n: 1 }, 'r-1');
      assert.equal(again.body.id, first.body.id);
      assert.equal(again.body.duplicate, true);
      assert.equal(await stored(b.url, 'orders'), 1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('SQLite: a retry after a restart answers the first id', async () => {
    const store = `sqlite:${join(mkdtempSync(join(tmp, 'restart-')), 'c.db')}`;
    const a = await startHub({ store });
    const first = await post(a.url, 'orders', { n: 1 }, 's-1');
    await a.close();
    const b = await startHub({ store });
    try {
      const again = await post(b.url, 'orders', { n: 1 }, 's-1');
      assert.equal(again.body.id, first.body.id);
      assert.equal(again.body.duplicate, true);
      assert.equal(await stored(b.url, 'orders'), 1);
    } finally {
      await b.close();
    }
  });
});
