// Presence for polls: a long-poll, JSONP poll or interval poll is attached only while a request is
// held, so joins and leaves between two requests come from the hub's presence log. Each poll
// answers a `pcursor` and the next request sends it back as `?psince=`: what happened between the
// two is answered exactly once, in order with the channel's messages, on memory and Redis stores
// (across hubs). A poll too far behind, or from another log, gets a `gap` with reason `presence`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Envelope } from '../../src/protocol/envelope.js';
import { publish, sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { openSubscription } from '../helpers/transport-clients.js';

type PollKind = 'longpoll' | 'jsonp' | 'poll';
const KINDS: PollKind[] = ['longpoll', 'jsonp', 'poll'];

interface Answer {
  messages: Envelope[];
  cursor: string;
  pcursor?: string;
}

/** One poll request of `kind`, answered at once (`mode=poll`), or held for at most a second. */
async function pollOnce(
  kind: PollKind,
  url: string,
  channel: string,
  params: Record<string, string>,
  hold = false,
): Promise<Answer> {
  const q = new URLSearchParams({ presence: '1', ...params });
  if (kind === 'poll' || !hold) q.set('mode', 'poll');
  else if (!q.has('timeout')) q.set('timeout', '1');
  if (kind === 'jsonp') q.set('callback', 'cb');
  const res = await fetch(`${url}/sub/${channel}?${q}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  if (kind !== 'jsonp') return JSON.parse(text) as Answer;
  const m = /^\/\*\*\/cb\(([\s\S]*)\);$/.exec(text);
  assert.ok(m, `a JSONP answer: ${text}`);
  return JSON.parse(m[1]!) as Answer;
}

const next = (a: Answer): Record<string, string> => ({
  since: a.cursor,
  ...(a.pcursor ? { psince: a.pcursor } : {}),
});

/** Messages by their data, joins and leaves as `join:NAME`. */
const show = (es: Envelope[]) =>
  es.map((e) =>
    e.id !== null
      ? String(e.data)
      : `${e.event}:${(e.data as { member?: string; reason?: string }).member ?? (e.data as { reason: string }).reason}`,
  );

/** Waits until the snapshot of `channel` does (or does not) list `name`. */
async function untilMember(url: string, channel: string, name: string, present: boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while ((await members(url, channel)).includes(name) !== present) {
    if (Date.now() > end) throw new Error(`${name} ${present ? 'never joined' : 'never left'} ${channel}`);
    await sleep(10);
  }
}

async function members(url: string, channel: string): Promise<string[]> {
  const r = (await (await fetch(`${url}/presence/${channel}`)).json()) as {
    members: Array<{ member: string }>;
  };
  return r.members.map((m) => m.member).sort();
}

/**
 * Between two polls: a message, a member joins, a message, it leaves, a message. `settle` waits
 * until the hub the poller uses has heard of each change.
 */
async function between(
  pubUrl: string,
  memberUrl: string,
  channel: string,
  name: string,
  settle: () => Promise<void>,
) {
  await publish(pubUrl, channel, 'm1');
  const member = openSubscription('sse', memberUrl, [channel], { query: { member: name } });
  await untilMember(memberUrl, channel, name, true);
  await settle();
  await publish(pubUrl, channel, 'm2');
  member.close();
  await untilMember(memberUrl, channel, name, false);
  await settle();
  await publish(pubUrl, channel, 'm3');
  await settle();
}

const OPTIONS = {
  channels: [
    {
      pattern: 'lobby.*',
      presence: 'anonymous' as const,
      subscribe: 'public' as const,
      publish: 'public' as const,
    },
  ],
  presence: { coalesceMs: 100 },
};

describe('presence for polls (memory store)', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub(OPTIONS);
  });
  after(() => t.close());

  for (const kind of KINDS) {
    it(`${kind}: joins and leaves between two requests, once, in order with the messages`, async () => {
      const channel = `lobby.between-${kind}`;
      const first = await pollOnce(kind, t.url, channel, {});
      assert.deepEqual(first.messages, []);
      assert.match(first.pcursor ?? '', /^[0-9a-f]{8}-\d+$/, 'a poll with ?presence=1 gets a pcursor');
      await between(t.url, t.url, channel, `amy-${kind}`, () => sleep(20));
      const second = await pollOnce(kind, t.url, channel, next(first), true);
      assert.deepEqual(show(second.messages), ['m1', `join:amy-${kind}`, 'm2', `leave:amy-${kind}`, 'm3']);
      // Caught up: the next poll repeats none of them.
      const third = await pollOnce(kind, t.url, channel, next(second));
      assert.deepEqual(third.messages, []);
      assert.equal(third.pcursor, second.pcursor);
    });
  }

  it('a join while a long-poll is held answers it; the next poll does not repeat it', async () => {
    const channel = 'lobby.held';
    const first = await pollOnce('longpoll', t.url, channel, {});
    const held = pollOnce('longpoll', t.url, channel, { ...next(first), timeout: '5' }, true);
    await waitFor(() => t.hub.core.subscriberCount(channel) === 1, 5000, 'held');
    const member = openSubscription('sse', t.url, [channel], { query: { member: 'hal' } });
    const second = await held;
    assert.deepEqual(show(second.messages), ['join:hal']);
    assert.notEqual(second.pcursor, first.pcursor, 'the answer carries the position of the join');
    const third = await pollOnce('longpoll', t.url, channel, next(second));
    assert.deepEqual(third.messages, []);
    assert.equal(third.pcursor, second.pcursor);
    member.close();
  });

  it('a pcursor of another log, or forged, gets a presence gap; a malformed one a 400', async () => {
    const channel = 'lobby.gap';
    const first = await pollOnce('longpoll', t.url, channel, {});
    const [id] = first.pcursor!.split('-');
    const other = id === '00000000' ? '00000001-0' : '00000000-0';
    for (const psince of [other, `${id}-999999999`]) {
      const a = await pollOnce('longpoll', t.url, channel, { since: first.cursor, psince });
      assert.deepEqual(show(a.messages), ['gap:presence']);
      assert.deepEqual(a.messages[0]!.data, { reason: 'presence', since: psince, next: null });
      assert.equal(a.pcursor, first.pcursor, 'the answer starts the poll over from now');
    }
    const bad = await fetch(`${t.url}/sub/${channel}?presence=1&mode=poll&psince=nope`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'ERR_BAD_PARAM');
  });
});

describe('presence for polls: bounds', () => {
  it('a poll behind more than presence.logEvents gets a presence gap instead of the events', async () => {
    const t = await startHub({ ...OPTIONS, presence: { coalesceMs: 0, logEvents: 2 } });
    try {
      const channel = 'lobby.bound';
      const first = await pollOnce('poll', t.url, channel, {});
      for (const name of ['a', 'b']) {
        const s = openSubscription('sse', t.url, [channel], { query: { member: name } });
        await untilMember(t.url, channel, name, true);
        s.close();
        await untilMember(t.url, channel, name, false);
      }
      const a = await pollOnce('poll', t.url, channel, next(first));
      assert.deepEqual(show(a.messages), ['gap:presence']);
      const b = await pollOnce('poll', t.url, channel, next(a));
      assert.deepEqual(b.messages, [], 'caught up from the gap on');
    } finally {
      await t.close();
    }
  });

  it('/metrics: presence gaps by reason, and the channels, events and bytes the log holds', async () => {
    const t = await startHub({ ...OPTIONS, presence: { coalesceMs: 0, logEvents: 2 } });
    const metric = async (name: string): Promise<number | undefined> => {
      const text = await (await fetch(`${t.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    };
    try {
      assert.equal(
        await metric('cometa_presence_gaps_total{reason="behind"}'),
        0,
        'every reason has a series',
      );
      assert.equal(await metric('cometa_presence_gaps_total{reason="other_log"}'), 0);
      assert.equal(await metric('cometa_presence_log_channels'), 0);
      const channel = 'lobby.metrics';
      const first = await pollOnce('poll', t.url, channel, {});
      assert.equal(await metric('cometa_presence_log_channels'), 1, 'logged for the next poll');
      assert.equal(await metric('cometa_presence_log_events'), 0);
      for (const name of ['a', 'b']) {
        const s = openSubscription('sse', t.url, [channel], { query: { member: name } });
        await untilMember(t.url, channel, name, true);
        s.close();
        await untilMember(t.url, channel, name, false);
      }
      assert.equal(await metric('cometa_presence_log_events'), 2, 'two of four kept (logEvents)');
      const bytes = await metric('cometa_presence_log_bytes');
      assert.ok(bytes !== undefined && bytes > 100, `${bytes}`);
      assert.equal(bytes, t.hub.core.presenceLog.chars);
      const behind = await pollOnce('poll', t.url, channel, next(first));
      assert.deepEqual(show(behind.messages), ['gap:presence']);
      const [id] = first.pcursor!.split('-');
      await pollOnce('poll', t.url, channel, {
        since: first.cursor,
        psince: id === '00000000' ? '00000001-0' : '00000000-0',
      });
      assert.equal(await metric('cometa_presence_gaps_total{reason="behind"}'), 1);
      assert.equal(await metric('cometa_presence_gaps_total{reason="other_log"}'), 1);
    } finally {
      await t.close();
    }
  });

  // The joins and leaves a poll catches up with are part of its answer's page, with its messages:
  // at most limits.maxBatch of them together and limits.maxBatchBytes; what does not fit follows
  // from the answer's cursors, and such an answer is answered again at once (never held).
  const PAGES: Array<{ bound: string; limits: { maxBatchBytes?: number; maxBatch?: number }; name: number }> =
    [
      { bound: 'maxBatchBytes', limits: { maxBatchBytes: 1024 }, name: 100 },
      { bound: 'maxBatch', limits: { maxBatch: 3 }, name: 4 },
    ];
  for (const { bound, limits, name } of PAGES) {
    for (const kind of KINDS) {
      it(`${kind}: joins and leaves count in the answer's ${bound}; the rest follows, once, in order`, async () => {
        const t = await startHub({ ...OPTIONS, presence: { coalesceMs: 0 }, limits });
        try {
          // Two channels in one subscription: their joins and leaves are one sequence with the messages.
          const pair = [`lobby.pa-${kind}`, `lobby.pb-${kind}`];
          const channel = pair.join(',');
          const first = await pollOnce(kind, t.url, channel, {});
          const names = Array.from({ length: 8 }, (_, i) => `${i}`.padStart(name, 'n'));
          const expected: string[] = [];
          const members = [];
          for (const [i, n] of names.entries()) {
            const on = pair[i % 2]!;
            await publish(t.url, on, `m${i}`);
            members.push(openSubscription('sse', t.url, [on], { query: { member: n } }));
            await untilMember(t.url, on, n, true);
            expected.push(`m${i}`, `join:${n}`);
          }
          await publish(t.url, pair[0]!, 'end');
          expected.push('end');
          // After the last message: the last answers catch up from a cursor already at the head.
          for (const [i, n] of names.entries()) {
            members[i]!.close();
            await untilMember(t.url, pair[i % 2]!, n, false);
            expected.push(`leave:${n}`);
          }
          await sleep(20);
          const got: string[] = [];
          let a = first;
          let answers = 0;
          while (got.length < expected.length && answers++ < 40) {
            const started = Date.now();
            a = await pollOnce(kind, t.url, channel, { ...next(a), timeout: '10' }, true);
            assert.ok(Date.now() - started < 3000, 'an answer with more to come is answered at once');
            assert.ok(a.messages.length > 0, `answer ${answers} is not empty`);
            assert.ok(a.messages.length <= (limits.maxBatch ?? 1000), `${a.messages.length} in one answer`);
            const chars = a.messages.reduce((n, e) => n + JSON.stringify(e).length, 0);
            assert.ok(chars <= (limits.maxBatchBytes ?? 1 << 20), `${chars} characters in one answer`);
            got.push(...show(a.messages));
          }
          assert.deepEqual(got, expected);
          assert.ok(answers >= 3, `${answers} answers`);
          const last = await pollOnce(kind, t.url, channel, next(a));
          assert.deepEqual(last.messages, [], 'caught up');
          assert.equal(last.pcursor, a.pcursor);
        } finally {
          await t.close();
        }
      });
    }
  }

  // A poller is connected only while a request is held: it stays a member while it polls within
  // presence.coalesceMs, and only its first request is a join (the rate of anonymous joins).
  it('an interval poller naming itself is one member while it polls (one join token), then leaves', async () => {
    const t = await startHub({
      ...OPTIONS,
      presence: { coalesceMs: 1000 },
      limits: { publishRatePerIp: 2 },
    });
    try {
      const channel = 'lobby.rate';
      const watcher = openSubscription('sse', t.url, [channel], { query: { presence: '1' } });
      await waitFor(() => t.hub.core.subscriberCount(channel) === 1, 5000, 'watcher');
      for (let i = 0; i < 30; i++) {
        await pollOnce('poll', t.url, channel, { member: 'pat' });
        await sleep(40);
      }
      assert.deepEqual(await members(t.url, channel), ['pat']);
      assert.deepEqual(show(watcher.envelopes), ['join:pat'], 'no leave while it polls');
      await waitFor(() => watcher.envelopes.length === 2, 5000, 'leave once it stopped polling');
      watcher.close();
      assert.deepEqual(show(watcher.envelopes), ['join:pat', 'leave:pat']);
    } finally {
      await t.close();
    }
  });
});

describe('presence for polls on Redis: a member on another hub', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  for (const fanout of ['pubsub', 'stream']) {
    for (const kind of KINDS) {
      it(`${kind}, fanout=${fanout}: joins and leaves on hub B between two polls of hub A`, async () => {
        const options = { ...OPTIONS, store: `${redis.url}?fanout=${fanout}&prefix=pp-${fanout}-${kind}:` };
        const a = await startHub(options);
        const b = await startHub(options);
        try {
          const channel = `lobby.r-${kind}`;
          const first = await pollOnce(kind, a.url, channel, {});
          await between(b.url, b.url, channel, 'bo', () => sleep(150));
          const second = await pollOnce(kind, a.url, channel, next(first), true);
          assert.deepEqual(show(second.messages), ['m1', 'join:bo', 'm2', 'leave:bo', 'm3']);
          const third = await pollOnce(kind, a.url, channel, next(second));
          assert.deepEqual(third.messages, []);
        } finally {
          await a.close();
          await b.close();
        }
      });
    }
  }
});
