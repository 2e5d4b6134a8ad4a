/**
 * Durability across a crash, on every transport: a hub process (`cometa serve`) is killed with
 * SIGKILL while messages are being published and delivered, started again on the same port and
 * store, and every subscriber resumes from its cursor.
 *
 * - SQLite store: every acknowledged (202) message arrives exactly once, in order, no gap; the
 *   epoch and the seq carry on across the restart.
 * - Memory store: the same resume gets an explicit `gap` (reason `epoch`) per channel, never silence.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCursor } from '../../src/protocol/cursor.js';
import type { Envelope, GapData } from '../../src/protocol/envelope.js';
import { sleep, waitFor } from '../helpers/hub.js';
import { type HubProcess, spawnHub, tryPublish } from '../helpers/hub-process.js';
import { type DriverName, openSubscription, type TestSubscription } from '../helpers/transport-clients.js';

const TRANSPORTS: DriverName[] = ['websocket', 'sse', 'stream', 'longpoll', 'jsonp', 'poll'];
const CHANNELS = ['dur.a', 'dur.b'];
const tmp = mkdtempSync(join(tmpdir(), 'cometa-durability-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Published {
  /** id -> i of every message answered 202. */
  acked: Map<string, number>;
  /** i of every publish attempted (answered or cut off by the kill). */
  attempted: Set<number>;
}

/** Publishes with two concurrent publishers until `count` were acknowledged, then kill -9s the hub. */
async function publishAndKill(hub: HubProcess, count: number, from: number, pub: Published): Promise<void> {
  let next = from;
  let kill: Promise<void> | undefined;
  const loop = async () => {
    while (kill === undefined) {
      const i = next++;
      pub.attempted.add(i);
      try {
        const r = await tryPublish(hub.url, CHANNELS[i % 2]!, { i });
        if (r.status === 202 && r.body.id) pub.acked.set(r.body.id, i);
      } catch {
        return; // the hub is gone
      }
      // Kill while the other publisher's request is in flight and subscribers are receiving.
      if (pub.acked.size >= count && kill === undefined) kill = hub.kill();
      await sleep(2);
    }
  };
  await Promise.all([loop(), loop()]);
  await kill;
}

async function publishN(hub: HubProcess, n: number, from: number, pub: Published): Promise<string> {
  let last = '';
  for (let i = from; i < from + n; i++) {
    pub.attempted.add(i);
    const r = await tryPublish(hub.url, CHANNELS[i % 2]!, { i });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    pub.acked.set(r.body.id!, i);
    last = r.body.id!;
  }
  return last;
}

const messageIds = (envs: Envelope[]) => envs.filter((e) => e.id !== null).map((e) => e.id!);

async function openAll(url: string, since: (kind: DriverName) => string) {
  const subs = new Map<DriverName, TestSubscription>();
  for (const kind of TRANSPORTS)
    subs.set(kind, openSubscription(kind, url, CHANNELS, { since: since(kind) }));
  // Streams are open once their `open` frame arrived; polls are open at once.
  await waitFor(
    () =>
      [...subs].every(([kind, s]) => !['websocket', 'sse', 'stream'].includes(kind) || s.controls.length > 0),
    10_000,
    'every stream to open',
  );
  return subs;
}

async function waitForId(subs: Map<DriverName, TestSubscription>, id: string): Promise<void> {
  for (const [kind, s] of subs)
    await waitFor(() => messageIds(s.envelopes).includes(id), 15_000, `${kind} to receive ${id}`);
}

describe('durability: kill -9 of the hub process mid-stream', () => {
  it('SQLite store: every acknowledged message reaches every transport exactly once, in order, no gap', async () => {
    const hub = await spawnHub([
      '--store',
      `sqlite:${join(tmp, 'sqlite', 'cometa.db')}`,
      '--heartbeat-ms',
      '500',
    ]);
    try {
      const first = await tryPublish(hub.url, 'dur.a', { i: -1 });
      assert.equal(first.status, 202);
      const cursor0 = first.body.id!;
      const epoch = parseCursor(cursor0)!.epoch;
      const pub: Published = { acked: new Map(), attempted: new Set() };

      const before = await openAll(hub.url, () => cursor0);
      await publishAndKill(hub, 60, 0, pub);
      assert.equal(hub.alive, false);
      await Promise.all([...before.values()].map((s) => Promise.race([s.ended, sleep(5000)])));
      for (const s of before.values()) s.close();
      // Every transport was receiving when the hub died.
      for (const [kind, s] of before) assert.ok(messageIds(s.envelopes).length > 0, `${kind} got nothing`);

      await hub.start();
      const last = await publishN(hub, 30, 10_000, pub);
      assert.equal(parseCursor(last)!.epoch, epoch, 'the epoch survives the restart');
      const resumed = await openAll(hub.url, (kind) => before.get(kind)!.cursor ?? cursor0);
      await waitForId(resumed, last);
      for (const s of resumed.values()) s.close();

      for (const kind of TRANSPORTS) {
        const all = [...before.get(kind)!.envelopes, ...resumed.get(kind)!.envelopes];
        assert.deepEqual(
          all.filter((e) => e.id === null),
          [],
          `${kind}: no gap or other hub event`,
        );
        const ids = messageIds(all);
        const seqs = ids.map((id) => parseCursor(id)!.seq);
        for (let j = 1; j < seqs.length; j++)
          assert.ok(seqs[j]! > seqs[j - 1]!, `${kind}: ${ids[j]} after ${ids[j - 1]}: order or duplicate`);
        assert.ok(
          ids.every((id) => parseCursor(id)!.epoch === epoch),
          `${kind}: one epoch`,
        );
        const got = new Set(ids);
        for (const [id, i] of pub.acked)
          assert.ok(got.has(id), `${kind}: acknowledged message ${i} (${id}) lost`);
        // Anything beyond the acknowledged ones is a publish cut off by the kill (committed, not answered).
        for (const e of all) {
          const i = (e.data as { i: number }).i;
          assert.ok(pub.attempted.has(i), `${kind}: unexpected message ${JSON.stringify(e)}`);
        }
      }
    } finally {
      await hub.kill();
    }
  });

  it('memory store: the same resume gets an epoch gap per channel, then the new messages', async () => {
    const hub = await spawnHub(['--store', 'memory', '--heartbeat-ms', '500']);
    try {
      const first = await tryPublish(hub.url, 'dur.a', { i: -1 });
      const cursor0 = first.body.id!;
      const pub: Published = { acked: new Map(), attempted: new Set() };
      const before = await openAll(hub.url, () => cursor0);
      await publishAndKill(hub, 20, 0, pub);
      await Promise.all([...before.values()].map((s) => Promise.race([s.ended, sleep(5000)])));
      for (const s of before.values()) s.close();

      await hub.start();
      const fresh: Published = { acked: new Map(), attempted: new Set() };
      const last = await publishN(hub, 10, 10_000, fresh);
      assert.notEqual(parseCursor(last)!.epoch, parseCursor(cursor0)!.epoch);
      const resumed = await openAll(hub.url, (kind) => before.get(kind)!.cursor ?? cursor0);
      await waitForId(resumed, last);
      for (const s of resumed.values()) s.close();

      for (const kind of TRANSPORTS) {
        const envs = resumed.get(kind)!.envelopes;
        const gaps = envs.filter((e) => e.event === 'gap');
        assert.deepEqual(gaps.map((g) => g.channel).sort(), CHANNELS, `${kind}: one gap per channel`);
        for (const g of gaps) {
          const data = g.data as GapData;
          assert.equal(data.reason, 'epoch', kind);
          assert.equal(data.since, before.get(kind)!.cursor ?? cursor0, kind);
        }
        // Gaps first, then every message of the new life, in order.
        assert.ok(
          envs.slice(0, 2).every((e) => e.event === 'gap'),
          `${kind}: gaps come first`,
        );
        assert.deepEqual(messageIds(envs), [...fresh.acked.keys()], kind);
      }
    } finally {
      await hub.kill();
    }
  });
});
