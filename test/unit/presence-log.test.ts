// The presence log's bounds (events, bytes, age, unwatched channels) and how a poll's catch-up is
// cut and merged: events that go after a message the answer does not carry wait for the next poll.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Frame } from '../../src/hub/frame.js';
import { resolveOptions } from '../../src/hub/options.js';
import { mergePresence, PresenceLog } from '../../src/hub/presence-log.js';

const limits = (o: Record<string, number> = {}) => resolveOptions({ presence: o }).presence;
const join = (member: string) => Frame.presenceEvent('lobby.a', 'join', { member }, 0);
const names = (fs: readonly Frame[]) =>
  fs.map((f) => (f.seq !== 0 ? `#${f.seq}` : `${f.event}:${JSON.parse(f.json).data.member ?? 'gap'}`));
const message = (seq: number) =>
  Frame.message({ seq, channel: 'lobby.a', event: 'message', data: seq, time: 0 }, 'ep');

describe('PresenceLog', () => {
  it('records only watched channels, and replays after a position, once', () => {
    const log = new PresenceLog(limits());
    log.record('lobby.a', join('early'), 0, 0);
    const start = log.replay(['lobby.a'], undefined, 0).pos;
    log.watch(['lobby.a']);
    const a = join('amy');
    log.record('lobby.a', a, 0, 0);
    assert.equal(a.pos, start + 1);
    const r = log.replay(['lobby.a'], log.format(start), 0);
    assert.deepEqual(names(r.events.map((e) => e.frame)), ['join:amy']);
    assert.equal(r.pos, a.pos);
    assert.deepEqual(log.replay(['lobby.a'], log.format(r.pos), 0).events, []);
  });

  it('events after a message the answer does not reach wait for the next poll', () => {
    const log = new PresenceLog(limits());
    log.watch(['lobby.a']);
    const from = log.format(0);
    log.record('lobby.a', join('a'), 5, 0);
    log.record('lobby.a', join('b'), 7, 0);
    const r = log.replay(['lobby.a'], from, 6);
    assert.deepEqual(names(r.events.map((e) => e.frame)), ['join:a']);
    assert.equal(r.pos, 1, 'the next poll starts after a, before b');
    assert.deepEqual(names(mergePresence([message(5), message(6)], r)), ['#5', 'join:a', '#6']);
  });

  it('is bounded in events and in bytes; a poll behind the bound gets a presence gap', () => {
    const log = new PresenceLog(limits({ logEvents: 3, logBytes: 1024 }));
    log.watch(['lobby.a']);
    const from = log.format(0);
    for (let i = 0; i < 5; i++) log.record('lobby.a', join(`m${i}`), 0, 0);
    const r = log.replay(['lobby.a'], from, 0);
    assert.deepEqual(names(r.gaps), ['gap:gap']);
    assert.deepEqual(JSON.parse(r.gaps[0]!.json).data, { reason: 'presence', since: from, next: null });
    const big = Frame.presenceEvent('lobby.a', 'join', { member: 'x', info: 'y'.repeat(600) }, 0);
    log.record('lobby.a', big, 0, 0);
    log.record(
      'lobby.a',
      Frame.presenceEvent('lobby.a', 'join', { member: 'z', info: 'y'.repeat(600) }, 0),
      0,
      0,
    );
    const left = log.replay(['lobby.a'], log.format(big.pos - 1), 0);
    assert.equal(left.gaps.length, 1, 'the 1 KiB bound dropped the first big one');
  });

  it('the sweep drops events older than logMs and channels unwatched for that long', () => {
    const log = new PresenceLog(limits({ logMs: 1000 }));
    log.watch(['lobby.a']);
    log.record('lobby.a', join('old'), 0, 0);
    log.sweep(500);
    assert.equal(log.replay(['lobby.a'], log.format(0), 0).events.length, 1);
    log.sweep(1000);
    assert.equal(log.replay(['lobby.a'], log.format(0), 0).gaps.length, 1, 'aged out');
    log.unwatch(['lobby.a'], 2000);
    log.sweep(2500);
    assert.equal(log.size, 1, 'kept for the next poll');
    log.sweep(3000);
    assert.equal(log.size, 0);
  });
});
