// Presence: join and leave envelopes on every transport for subscribers who ask, snapshots over
// HTTP and WebSocket, identity from the token's sub and info (or ?member= where anonymous members
// are allowed), reconnects coalesced, bounds, and three hubs on Redis with one killed (kill -9).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import type { Envelope } from '../../src/protocol/envelope.js';
import { publish, sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';
import { type HubProcess, spawnHub } from '../helpers/hub-process.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { openSubscription } from '../helpers/transport-clients.js';
import { DRIVERS, settled } from '../helpers/transport-suite.js';

const secret = 'presence-test-secret-of-32-bytes!!!!';
const token = (sub: string, info?: unknown) =>
  new SignJWT({ cometa: { subscribe: ['**'] }, ...(info === undefined ? {} : { info }) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));

const presenceOf = (es: Envelope[]) =>
  es
    .filter((e) => e.event === 'join' || e.event === 'leave')
    .map((e) => `${e.event}:${(e.data as { member: string }).member}`);

interface Snapshot {
  channel: string;
  members: Array<{ member: string; info?: unknown; anonymous?: true }>;
  count: number;
  truncated: boolean;
}

async function snapshot(url: string, channel: string): Promise<Snapshot> {
  const res = await fetch(`${url}/presence/${channel}`);
  assert.equal(res.status, 200);
  return (await res.json()) as Snapshot;
}

const OPTIONS = {
  auth: { key: secret },
  channels: [
    { pattern: 'room.*', presence: true, subscribe: 'public' as const, publish: 'public' as const },
    {
      pattern: 'lobby.*',
      presence: 'anonymous' as const,
      subscribe: 'public' as const,
      publish: 'public' as const,
    },
    { pattern: 'plain.*', subscribe: 'public' as const, publish: 'public' as const },
  ],
  presence: { coalesceMs: 300, maxMembers: 3 },
  heartbeatMs: 100,
};

describe('presence (memory store: per process)', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub(OPTIONS);
  });
  after(() => t.close());

  // Polls send back their answers' pcursor (?psince=): what happened between two requests is caught up.
  for (const driver of DRIVERS) {
    it(`${driver}: join and leave envelopes, in order with the channel's messages`, async () => {
      const channel = `lobby.${driver}`;
      const watcher = openSubscription(driver, t.url, [channel], { query: { presence: '1' } });
      await settled(t, watcher, channel);
      // A long-poll hears of a join or leave while it is held: wait for the next poll after each answer.
      const held = async (n: number, others: number) => {
        await watcher.waitFor(n);
        if (driver === 'poll') return; // never held: it catches up at its next request
        await waitFor(() => t.hub.core.subscriberCount(channel) >= 1 + others, 5000, 'held');
        await sleep(50);
      };
      const id1 = await publish(t.url, channel, 'before');
      await held(1, 0);
      const member = openSubscription('sse', t.url, [channel], { query: { member: `m-${driver}` } });
      await waitFor(() => presenceOf(watcher.envelopes).length >= 1, 5000, 'join');
      await held(2, 1);
      const id2 = await publish(t.url, channel, 'after');
      await held(3, 1);
      member.close();
      await waitFor(() => presenceOf(watcher.envelopes).length >= 2, 5000, 'leave');
      watcher.close();
      assert.deepEqual(presenceOf(watcher.envelopes), [`join:m-${driver}`, `leave:m-${driver}`]);
      // In order with the messages: before, join, after, leave.
      const order = watcher.envelopes
        .filter((e) => e.id !== null || e.event === 'join' || e.event === 'leave')
        .map((e) => e.id ?? e.event);
      assert.deepEqual(order, [id1, 'join', id2, 'leave']);
      const join = watcher.envelopes.find((e) => e.event === 'join')!;
      assert.equal(join.id, null);
      assert.deepEqual(join.data, { member: `m-${driver}`, anonymous: true });
    });
  }

  it('members are the token subjects with their info; subscribers who do not ask get no envelopes', async () => {
    const alice = openSubscription('sse', t.url, ['room.1'], {
      query: { presence: '1', token: await token('alice', { name: 'Alice' }) },
    });
    await settled(t, alice, 'room.1');
    const quiet = openSubscription('sse', t.url, ['room.1'], { query: { token: await token('carol') } });
    const anon = openSubscription('sse', t.url, ['room.1'], { query: { member: 'mallory' } });
    await waitFor(() => presenceOf(alice.envelopes).length >= 2, 5000, 'joins');
    await publish(t.url, 'room.1', 'hello');
    await quiet.waitFor(1);
    await sleep(100);
    const snap = await snapshot(t.url, 'room.1');
    assert.deepEqual(
      snap.members.map((m) => m.member).sort(),
      ['alice', 'carol'],
      'on a presence: true channel a subscriber without a token is no member',
    );
    assert.deepEqual(
      snap.members.find((m) => m.member === 'alice'),
      { member: 'alice', info: { name: 'Alice' } },
    );
    assert.deepEqual(presenceOf(alice.envelopes).sort(), ['join:alice', 'join:carol']);
    assert.deepEqual(presenceOf(quiet.envelopes), [], 'no ?presence: no envelopes');
    for (const s of [alice, quiet, anon]) s.close();
  });

  it('a reconnect within coalesceMs is neither a leave nor a join', async () => {
    const watcher = openSubscription('websocket', t.url, ['room.2'], { query: { presence: '1' } });
    await settled(t, watcher, 'room.2');
    const tok = await token('dave');
    const first = openSubscription('sse', t.url, ['room.2'], { query: { token: tok } });
    await waitFor(() => presenceOf(watcher.envelopes).length >= 1, 5000, 'join');
    first.close();
    await sleep(50);
    const again = openSubscription('longpoll', t.url, ['room.2'], { query: { token: tok } });
    await sleep(700); // past the window
    assert.deepEqual(presenceOf(watcher.envelopes), ['join:dave']);
    again.close();
    await waitFor(() => presenceOf(watcher.envelopes).length >= 2, 5000, 'leave');
    watcher.close();
    assert.deepEqual(presenceOf(watcher.envelopes), ['join:dave', 'leave:dave']);
  });

  it('at most maxMembers per channel, snapshots bounded, and refused where not enabled', async () => {
    const subs = ['a', 'b', 'c', 'd'].map((m) =>
      openSubscription('sse', t.url, ['lobby.full'], { query: { member: m } }),
    );
    await waitFor(() => t.hub.core.subscriberCount('lobby.full') === 4, 5000, 'subscribed');
    await sleep(100);
    const snap = await snapshot(t.url, 'lobby.full');
    assert.equal(snap.count, 3);
    assert.equal(t.hub.core.presence.refused, 1);
    assert.match(await (await fetch(`${t.url}/metrics`)).text(), /^cometa_presence_refused_total 1$/m);
    for (const s of subs) s.close();
    const res = await fetch(`${t.url}/presence/plain.x`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_NOT_FOUND');
  });

  it('a WebSocket presence command answers the snapshot', async () => {
    const member = openSubscription('sse', t.url, ['lobby.ws'], { query: { member: 'zed' } });
    await waitFor(() => t.hub.core.subscriberCount('lobby.ws') === 1, 5000, 'subscribed');
    await sleep(50);
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/sub/lobby.ws`);
    const got: Array<Record<string, unknown>> = [];
    ws.on('message', (d) => got.push(JSON.parse(String(d)) as Record<string, unknown>));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'presence', id: 7, channel: 'lobby.ws' }));
    await waitFor(() => got.some((m) => m.id === 7), 5000, 'answer');
    ws.close();
    member.close();
    const answer = got.find((m) => m.id === 7)!;
    assert.equal(answer.type, 'presence');
    assert.deepEqual(answer.members, [{ member: 'zed', anonymous: true }]);
  });
});

describe('presence: members named by the hub.authorize hook', () => {
  it('a hook answering {member, info} names the subscriber', async () => {
    const t = await startHub({ channels: [{ pattern: 'team.*', presence: true }] });
    try {
      t.hub.authorize(({ action, req }) => {
        const user = new URL(req?.url ?? '/', 'http://x').searchParams.get('user');
        if (action !== 'subscribe' || user === null) return false;
        return { member: user, info: { via: 'hook' } };
      });
      const s = openSubscription('sse', t.url, ['team.a'], { query: { user: 'hana' } });
      await waitFor(() => t.hub.core.presence.localCount('team.a') === 1, 5000, 'member');
      const snap = await snapshot(t.url, 'team.a?user=viewer');
      s.close();
      assert.deepEqual(snap.members, [{ member: 'hana', info: { via: 'hook' } }]);
      const refused = await fetch(`${t.url}/sub/team.a?mode=poll`);
      assert.equal(refused.status, 403);
    } finally {
      await t.close();
    }
  });
});

describe('presence on Redis: three hubs, one killed', () => {
  let redis: RedisServer;
  const hubs: HubProcess[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'cometa-presence-'));
  before(async () => {
    redis = await startRedis();
    const config = join(tmp, 'cometa.json');
    writeFileSync(
      config,
      JSON.stringify({
        channels: [{ pattern: 'lobby.*', presence: 'anonymous', subscribe: 'public' }],
        presence: { coalesceMs: 200, ttlMs: 1500 },
        heartbeatMs: 200,
      }),
    );
    for (let i = 0; i < 3; i++) hubs.push(await spawnHub(['--store', redis.url, '--config', config]));
  });
  after(async () => {
    for (const h of hubs) if (h.alive) await h.kill();
    await redis.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('members on every hub are seen by all; the killed hub’s members leave within the TTL', async () => {
    const [a, b, c] = hubs as [HubProcess, HubProcess, HubProcess];
    const watcher = openSubscription('sse', a.url, ['lobby.r'], { query: { presence: '1' } });
    await waitFor(() => watcher.cursor !== undefined, 10_000, 'watcher open');
    const onB = openSubscription('websocket', b.url, ['lobby.r'], { query: { member: 'bea' } });
    const onC = openSubscription('sse', c.url, ['lobby.r'], { query: { member: 'cid' } });
    await waitFor(() => presenceOf(watcher.envelopes).length >= 2, 10_000, 'joins from b and c');
    assert.deepEqual(presenceOf(watcher.envelopes).sort(), ['join:bea', 'join:cid']);
    const snap = await snapshot(a.url, 'lobby.r');
    assert.deepEqual(snap.members.map((m) => m.member).sort(), ['bea', 'cid']);
    // The same member on a second hub: no second join; it leaves only when both are gone.
    const alsoOnA = openSubscription('sse', a.url, ['lobby.r'], { query: { member: 'cid' } });
    await sleep(500);
    assert.equal(presenceOf(watcher.envelopes).length, 2);
    alsoOnA.close();
    await sleep(600);
    assert.equal(presenceOf(watcher.envelopes).length, 2, 'cid is still on c');
    const killedAt = Date.now();
    await c.kill();
    await waitFor(
      () => presenceOf(watcher.envelopes).includes('leave:cid'),
      10_000,
      'leave of the killed hub',
    );
    const took = Date.now() - killedAt;
    assert.ok(took <= 1500 + 2500, `left ${took} ms after kill -9 (ttl 1500 ms + sweep)`);
    assert.deepEqual(
      (await snapshot(b.url, 'lobby.r')).members.map((m) => m.member),
      ['bea'],
    );
    onB.close();
    onC.close();
    await waitFor(() => presenceOf(watcher.envelopes).includes('leave:bea'), 10_000, 'leave of bea');
    watcher.close();
    const seen = presenceOf(watcher.envelopes);
    assert.deepEqual(seen.slice(0, 2).sort(), ['join:bea', 'join:cid']);
    assert.deepEqual(seen.slice(2), ['leave:cid', 'leave:bea']);
    assert.equal(presenceOf(watcher.envelopes).length, 4);
  });
});

describe('presence on Redis with fanout=stream', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  it('a member on one hub joins and leaves on the other, read from the global log', async () => {
    const store = `${redis.url}?fanout=stream&prefix=ps:`;
    const options = {
      store,
      channels: [{ pattern: 'lobby.*', presence: 'anonymous' as const }],
      presence: { coalesceMs: 100 },
    };
    const a = await startHub(options);
    const b = await startHub(options);
    try {
      const watcher = openSubscription('websocket', a.url, ['lobby.s'], { query: { presence: '1' } });
      await settled(a, watcher, 'lobby.s');
      const id = await publish(b.url, 'lobby.s', 'first');
      const member = openSubscription('sse', b.url, ['lobby.s'], { query: { member: 'sam' } });
      await waitFor(() => presenceOf(watcher.envelopes).length === 1, 10_000, 'join');
      member.close();
      await waitFor(() => presenceOf(watcher.envelopes).length === 2, 10_000, 'leave');
      watcher.close();
      assert.deepEqual(presenceOf(watcher.envelopes), ['join:sam', 'leave:sam']);
      assert.equal(watcher.envelopes[0]?.id, id, 'in log order: the message published first comes first');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('presence.maxMembers holds across hubs', async () => {
    const options = {
      store: `${redis.url}?prefix=pm:`,
      channels: [{ pattern: 'lobby.*', presence: 'anonymous' as const }],
      presence: { maxMembers: 1 },
    };
    const a = await startHub(options);
    const b = await startHub(options);
    try {
      const one = openSubscription('sse', a.url, ['lobby.m'], { query: { member: 'one' } });
      await waitFor(() => a.hub.core.presence.localCount('lobby.m') === 1, 10_000, 'first member');
      await sleep(100);
      const two = openSubscription('sse', b.url, ['lobby.m'], { query: { member: 'two' } });
      await waitFor(() => b.hub.core.presence.refused === 1, 10_000, 'second refused');
      const snap = await snapshot(b.url, 'lobby.m');
      one.close();
      two.close();
      assert.deepEqual(
        snap.members.map((m) => m.member),
        ['one'],
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
});
