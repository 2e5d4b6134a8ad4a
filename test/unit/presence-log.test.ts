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
    const page = mergePresence([message(5), message(6)], [100, 100], r, 1000, 1 << 20);
    assert.deepEqual(names(page.frames), ['#5', 'join:a', '#6']);
    assert.equal(page.seq, undefined, 'every message fit: the cursor is the one of the read');
    assert.equal(page.pos, 1);
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

  it('an answer counts its events with its messages: limit and bytes, the rest from both cursors', () => {
    const log = new PresenceLog(limits());
    log.watch(['lobby.a']);
    const from = log.format(0);
    // Between two polls: #1, a, b, #2, c, #3 (a and b after #1, c after #2).
    for (const [m, after] of [
      ['a', 1],
      ['b', 1],
      ['c', 2],
    ] as const)
      log.record('lobby.a', join(m), after, 0);
    const batch = [message(1), message(2), message(3)];
    const sizes = [100, 100, 100];
    const all = (r: ReturnType<PresenceLog['replay']>) => mergePresence(batch, sizes, r, 1000, 1 << 20);
    assert.deepEqual(names(all(log.replay(['lobby.a'], from, 3)).frames), [
      '#1',
      'join:a',
      'join:b',
      '#2',
      'join:c',
      '#3',
    ]);
    // Three items per answer: the cut is after b; the next poll reads after #1 and after b's position.
    let page = mergePresence(batch, sizes, log.replay(['lobby.a'], from, 3), 3, 1 << 20);
    assert.deepEqual(names(page.frames), ['#1', 'join:a', 'join:b']);
    assert.equal(page.seq, 1);
    assert.equal(page.pos, 2);
    page = mergePresence(batch.slice(1), sizes, log.replay(['lobby.a'], log.format(page.pos), 3), 3, 1 << 20);
    assert.deepEqual(names(page.frames), ['#2', 'join:c', '#3']);
    assert.equal(page.seq, undefined);
    assert.equal(page.pos, 3);
    // In bytes: a join is counted as its envelope; one that does not fit waits, even before any message.
    const joinChars = join('a').json.length;
    page = mergePresence(batch, sizes, log.replay(['lobby.a'], from, 3), 1000, 100 + joinChars);
    assert.deepEqual(names(page.frames), ['#1', 'join:a']);
    assert.deepEqual([page.seq, page.pos], [1, 1]);
    const early = new PresenceLog(limits());
    early.watch(['lobby.a']);
    for (const m of ['x', 'y']) early.record('lobby.a', join(m), 0, 0);
    page = mergePresence([message(4)], [100], early.replay(['lobby.a'], early.format(0), 4), 1000, joinChars);
    assert.deepEqual(names(page.frames), ['join:x'], 'the first item always goes');
    assert.deepEqual([page.seq, page.pos], [3, 1], 'the cursor stops right before #4');
    // Gaps always go, outside the count.
    const gone = early.replay(['lobby.a'], 'ffffffff-1', 4);
    page = mergePresence([message(4)], [100], gone, 1, joinChars);
    assert.deepEqual(names(page.frames), ['gap:gap', '#4']);
  });

  it('counts its gaps by reason, and the events and characters it holds', () => {
    const log = new PresenceLog(limits({ logEvents: 2, logMs: 1000 }));
    log.watch(['lobby.a', 'lobby.b']);
    const from = log.format(0);
    const frames = ['a', 'b', 'c'].map(join);
    for (const f of frames) log.record('lobby.a', f, 0, 0);
    log.record('lobby.b', join('z'), 0, 500);
    const chars = (fs: Frame[]) => fs.reduce((n, f) => n + f.json.length, 0);
    assert.deepEqual([log.size, log.events], [2, 3]);
    assert.equal(log.chars, chars(frames.slice(1)) + join('z').json.length);
    log.replay(['lobby.a', 'lobby.b'], from, 0);
    assert.deepEqual(log.gaps, { other_log: 0, behind: 1 }, 'a dropped the first join');
    log.replay(['lobby.a', 'lobby.b'], '0badc0de-1', 0);
    log.replay(['lobby.a'], log.format(99), 0);
    assert.deepEqual(log.gaps, { other_log: 3, behind: 1 });
    log.sweep(1000);
    assert.deepEqual([log.events, log.chars], [1, join('z').json.length], 'aged out');
    log.unwatch(['lobby.b'], 1000);
    log.sweep(2000);
    assert.deepEqual([log.size, log.events, log.chars], [1, 0, 0], 'lobby.b gone with its event');
    log.record('lobby.a', join('d'), 0, 2000);
    log.reset();
    assert.deepEqual([log.events, log.chars], [0, 0]);
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
