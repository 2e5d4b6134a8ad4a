/**
 * Several hubs acting as one through Redis, with no sticky sessions. A real redis-server on a free
 * port (no persistence), three hub processes (`cometa serve --store redis://...`):
 *
 * 1. publish on one hub while subscribers on the others receive (WebSocket, SSE, NDJSON stream,
 *    interval poll), long-poll and JSONP pollers go round-robin over every hub with each request,
 *    and a stream subscriber is moved from one hub to another mid-stream with its cursor;
 * 2. kill -9 one hub: its subscribers resume on another hub with their cursors; publish on two hubs;
 * 3. restart Redis empty: publishes answer 503 ERR_STORE_UNAVAILABLE while it is down, the hubs
 *    reconnect by themselves and every subscriber gets an explicit `gap` (reason `epoch`).
 *
 * Every subscriber must end with every acknowledged message exactly once, in order, and the epoch
 * gap between the two lives of Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseCursor } from '../../src/protocol/cursor.js';
import type { Envelope, GapData } from '../../src/protocol/envelope.js';
import { sleep, waitFor } from '../helpers/hub.js';
import { type HubProcess, spawnHub, tryPublish } from '../helpers/hub-process.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { type DriverName, openSubscription, type TestSubscription } from '../helpers/transport-clients.js';

const CHANNELS = ['rc.a', 'rc.b'];
const JSONP_RE = /^\/\*\*\/([\w$.]+)\(([\s\S]*)\);$/;

let redis: RedisServer;
let hubs: HubProcess[] = [];

before(async () => {
  redis = await startRedis();
  const started = await Promise.allSettled(
    [0, 1, 2].map(() => spawnHub(['--store', redis.url, '--heartbeat-ms', '500'])),
  );
  // Keep whatever started so `after` stops it even when another failed to start.
  hubs = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  for (const r of started) if (r.status === 'rejected') throw r.reason;
});
after(async () => {
  await Promise.all(hubs.map((h) => h.kill()));
  await redis?.stop();
});

/** What every test subscriber exposes. */
interface Subscriber {
  name: string;
  envelopes(): Envelope[];
  close(): void;
}

/**
 * A subscriber that stays on one hub until told to move or until its connection ends (its hub
 * died, or answered an error), then resumes with its cursor on the next live hub, like a client
 * behind a load balancer.
 */
class Roamer implements Subscriber {
  readonly name: string;
  readonly #kind: DriverName;
  #hub: number;
  #cursor: string;
  readonly #done: Envelope[] = [];
  #current: TestSubscription | undefined;
  #closed = false;
  moves = 0;

  constructor(kind: DriverName, hub: number, cursor: string) {
    this.name = `${kind}@hub${hub}`;
    this.#kind = kind;
    this.#hub = hub;
    this.#cursor = cursor;
    this.#open();
  }

  envelopes(): Envelope[] {
    return [...this.#done, ...(this.#current?.envelopes ?? [])];
  }

  get opened(): boolean {
    return (this.#current?.controls.length ?? 0) > 0 || !['websocket', 'sse', 'stream'].includes(this.#kind);
  }

  /** Moves to another hub (closes the connection, resumes from the cursor there). */
  moveTo(hub: number): void {
    this.#hub = hub;
    this.moves++;
    this.#retire();
    this.#open();
  }

  close(): void {
    this.#closed = true;
    this.#retire();
  }

  #retire(): void {
    const cur = this.#current;
    if (!cur) return;
    this.#current = undefined;
    cur.close();
    this.#done.push(...cur.envelopes);
    this.#cursor = cur.cursor ?? this.#cursor;
  }

  #open(): void {
    if (this.#closed) return;
    while (!hubs[this.#hub]!.alive) this.#hub = (this.#hub + 1) % hubs.length;
    const sub = openSubscription(this.#kind, hubs[this.#hub]!.url, CHANNELS, { since: this.#cursor });
    this.#current = sub;
    const reopen = () => {
      if (this.#current !== sub || this.#closed) return;
      this.#retire();
      this.moves++;
      this.#hub = (this.#hub + 1) % hubs.length;
      setTimeout(() => this.#open(), 100);
    };
    sub.ended.then(reopen, reopen);
  }
}

/** Long-poll or JSONP with every request sent to the next hub in turn (plain round-robin). */
class RoundRobinPoller implements Subscriber {
  readonly name: string;
  readonly #list: Envelope[] = [];
  readonly #ac = new AbortController();
  readonly hubsUsed = new Set<number>();
  errors = 0;

  constructor(jsonp: boolean, cursor: string) {
    this.name = jsonp ? 'jsonp round-robin' : 'longpoll round-robin';
    void this.#loop(jsonp, cursor);
  }

  envelopes(): Envelope[] {
    return this.#list;
  }

  close(): void {
    this.#ac.abort();
  }

  async #loop(jsonp: boolean, since: string): Promise<void> {
    let cursor = since;
    let turn = 0;
    while (!this.#ac.signal.aborted) {
      const i = turn++ % hubs.length;
      if (!hubs[i]!.alive) continue;
      const q = new URLSearchParams({ since: cursor, timeout: '1' });
      if (jsonp) q.set('callback', 'cb.receive');
      try {
        const res = await fetch(`${hubs[i]!.url}/sub/${CHANNELS.join(',')}?${q}`, {
          signal: this.#ac.signal,
        });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`${res.status} ${text}`);
        const m = jsonp ? JSONP_RE.exec(text) : null;
        const answer = JSON.parse(jsonp ? (m?.[2] ?? '') : text) as { messages: Envelope[]; cursor: string };
        this.#list.push(...answer.messages);
        cursor = answer.cursor;
        this.hubsUsed.add(i);
      } catch {
        if (this.#ac.signal.aborted) return;
        this.errors++;
        await sleep(100);
      }
    }
  }
}

const ids = (envs: Envelope[]) => envs.filter((e) => e.id !== null).map((e) => e.id!);

/** Publishes on `hub`, retrying 503s (Redis down or restarting) until `deadline`; returns the id. */
async function publishOn(
  hub: number,
  i: number,
  seen503?: { count: number; codes: Set<string> },
): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await tryPublish(hubs[hub]!.url, CHANNELS[i % 2]!, { i });
    if (r.status === 202 && r.body.id) return r.body.id;
    assert.equal(r.status, 503, `publish answered ${r.status} ${JSON.stringify(r.body)}`);
    if (seen503) {
      seen503.count++;
      seen503.codes.add(r.body.error?.code ?? '');
    }
    if (Date.now() > deadline) assert.fail('publish kept failing');
    await sleep(50);
  }
}

describe('redis: three hubs, no sticky sessions', () => {
  it('every subscriber gets every message exactly once in order across moves, a hub crash and a Redis restart', async () => {
    const first = await publishOn(0, -1);
    const epoch1 = parseCursor(first)!.epoch;
    const ws = new Roamer('websocket', 1, first);
    const sse = new Roamer('sse', 2, first);
    const stream = new Roamer('stream', 1, first);
    const poll = new Roamer('poll', 2, first);
    const longpoll = new RoundRobinPoller(false, first);
    const jsonp = new RoundRobinPoller(true, first);
    const roamers = [ws, sse, stream, poll];
    const subs: Subscriber[] = [...roamers, longpoll, jsonp];
    await waitFor(() => roamers.every((r) => r.opened), 10_000, 'streams to open');

    const life1: string[] = [];
    const life2: string[] = [];
    const waitAll = async (id: string) => {
      for (const s of subs)
        await waitFor(() => ids(s.envelopes()).includes(id), 15_000, `${s.name} to get ${id}`);
    };
    try {
      // 1. Publish on hub 0; move the stream subscriber from hub 1 to hub 2 halfway.
      for (let i = 0; i < 40; i++) {
        life1.push(await publishOn(0, i));
        if (i === 20) stream.moveTo(2);
        await sleep(5);
      }
      await waitAll(life1.at(-1)!);

      // 2. kill -9 hub 2 (sse, poll and the moved stream are on it); publish on hubs 0 and 1.
      await hubs[2]!.kill();
      for (let i = 40; i < 80; i++) {
        life1.push(await publishOn(i % 2, i));
        await sleep(5);
      }
      await waitAll(life1.at(-1)!);
      assert.ok(sse.moves >= 1 && poll.moves >= 1 && stream.moves >= 2, 'subscribers of the dead hub moved');

      // 3. Restart Redis without its data. While it is down, publishing answers 503.
      await redis.stop();
      const down = { count: 0, codes: new Set<string>() };
      const r = await tryPublish(hubs[0]!.url, CHANNELS[0]!, { i: 'down' });
      assert.equal(r.status, 503);
      assert.equal(r.body.error?.code, 'ERR_STORE_UNAVAILABLE');
      await sleep(300);
      await redis.start();
      for (let i = 100; i < 120; i++) {
        life2.push(await publishOn(i % 2, i, down));
        await sleep(5);
      }
      await waitAll(life2.at(-1)!);
      const epoch2 = parseCursor(life2[0]!)!.epoch;
      assert.notEqual(epoch2, epoch1, 'Redis lost its data: a new epoch');
      for (const code of down.codes) assert.equal(code, 'ERR_STORE_UNAVAILABLE');
    } finally {
      for (const s of subs) s.close();
    }

    assert.ok(longpoll.hubsUsed.size >= 2 && jsonp.hubsUsed.size >= 2, 'pollers really went round-robin');
    const expected = [...life1, ...life2];
    for (const s of subs) {
      const envs = s.envelopes();
      const got = ids(envs);
      assert.deepEqual(got, expected, `${s.name}: every message exactly once, in order`);
      // Between the two lives of Redis: gaps (reason epoch) for both channels, nothing else.
      const boundary = envs.findIndex((e) => e.id === life2[0]);
      const lastOld = envs.findIndex((e) => e.id === life1.at(-1));
      const between = envs.slice(lastOld + 1, boundary);
      assert.ok(between.length > 0, `${s.name}: a gap between the epochs`);
      for (const e of between) {
        assert.equal(e.event, 'gap', `${s.name}: only gaps between the epochs, got ${JSON.stringify(e)}`);
        assert.equal((e.data as GapData).reason, 'epoch');
      }
      assert.deepEqual(
        [...new Set(between.map((e) => e.channel))].sort(),
        CHANNELS,
        `${s.name}: a gap for each channel`,
      );
      // No gap anywhere else: the hub crash and the moves lost nothing.
      assert.equal(envs.filter((e) => e.event === 'gap').length, between.length, `${s.name}: gaps elsewhere`);
    }
  });
});
