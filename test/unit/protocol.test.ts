/** The shared protocol pieces: channel names and patterns, cursors, event names, framing parsers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compilePattern,
  formatCursor,
  isChannelName,
  isChannelPattern,
  isPublishableEvent,
  NdjsonParser,
  newEpoch,
  parseChannelList,
  parseCursor,
  type SseEvent,
  SseParser,
} from '../../src/protocol/index.js';

describe('channel names', () => {
  it('accepts dot-joined segments of [A-Za-z0-9_~:-] up to 200 characters', () => {
    for (const ok of ['scores', 'scores.nba', 'quotes.AAPL', 'a-b_c~d:e.f', 'x'.repeat(200), '0.1.2']) {
      assert.ok(isChannelName(ok), ok);
    }
    for (const bad of [
      '',
      '.',
      'a.',
      '.a',
      'a..b',
      'a b',
      'a/b',
      'a*',
      'é',
      'x'.repeat(201),
      'a,b',
      'a\nb',
    ]) {
      assert.ok(!isChannelName(bad), JSON.stringify(bad));
    }
  });

  it('parses subscribe lists: decoded, validated, de-duplicated, bounded', () => {
    assert.deepEqual(parseChannelList('a,b.c,a', 64), ['a', 'b.c']);
    assert.deepEqual(parseChannelList('a%2Cb', 64), ['a', 'b']);
    assert.deepEqual(parseChannelList('a,,b', 64), { error: 'bad', detail: parseChannelListDetail() });
    assert.equal((parseChannelList('a,b,c', 2) as { error: string }).error, 'too-many');
    assert.equal((parseChannelList('%E0%A4%A', 2) as { error: string }).error, 'bad');
  });

  it('matches patterns: * is one segment, ** any number', () => {
    const cases: Array<[string, string, boolean]> = [
      ['scores.*', 'scores.nba', true],
      ['scores.*', 'scores', false],
      ['scores.*', 'scores.nba.live', false],
      ['scores.**', 'scores', true],
      ['scores.**', 'scores.nba.live', true],
      ['**', 'anything.at.all', true],
      ['**.live', 'scores.nba.live', true],
      ['**.live', 'live', true],
      ['**.live', 'scores.nba', false],
      ['a.*.c', 'a.b.c', true],
      ['a.*.c', 'a.b.d', false],
      ['chat.room1', 'chat.room1', true],
      ['chat.room1', 'chat.room10', false],
      ['a-b.*', 'a-b.x', true],
    ];
    for (const [pattern, channel, expected] of cases) {
      assert.equal(compilePattern(pattern)(channel), expected, `${pattern} ~ ${channel}`);
    }
    assert.ok(isChannelPattern('a.**.b') && !isChannelPattern('a.b*') && !isChannelPattern('a..b'));
    assert.throws(() => compilePattern('a.b*'), /pattern/);
  });

  it('matches adversarial ** patterns in bounded time (no search over every split)', () => {
    // The three refusals took 1.7-3.6 s each (on a busy 2-core machine) when every `**` tried every
    // split point; a token's grants are checked on every request, with a channel name the client picks.
    const a = (n: number) => Array(n).fill('a').join('.');
    const cases: Array<[string, string, boolean]> = [
      [`${Array(9).fill('**').join('.')}.x`, a(30), false],
      [`${Array(8).fill('**.a').join('.')}.x`, a(40), false],
      [`${Array(8).fill('**.*').join('.')}.x`, a(36), false],
      [`**.a.${Array(30).fill('**').join('.')}.b`, `${a(60)}.b`, true],
      [`${Array(39).fill('*.**').join('.')}.b`, `${a(99)}.b`, true],
    ];
    const started = performance.now();
    for (const [pattern, channel, expected] of cases) {
      assert.ok(isChannelPattern(pattern) && isChannelName(channel), pattern);
      assert.equal(compilePattern(pattern)(channel), expected, pattern);
    }
    const ms = performance.now() - started;
    assert.ok(ms < 50, `took ${ms.toFixed(1)} ms`);
  });
});

function parseChannelListDetail(): string {
  return (parseChannelList('', 1) as { detail: string }).detail;
}

describe('cursors', () => {
  it('round-trip EPOCH-SEQ and refuse anything else', () => {
    const epoch = newEpoch();
    assert.match(epoch, /^[a-z0-9]{8}$/);
    assert.deepEqual(parseCursor(formatCursor(epoch, 42)), { epoch, seq: 42 });
    for (const bad of [
      '',
      '42',
      'abc',
      'ABC-1',
      'a-b',
      'a--1',
      'a-1-2',
      `a-${'9'.repeat(16)}`,
      'a-1 ',
      `${'a'.repeat(17)}-1`,
    ]) {
      assert.equal(parseCursor(bad), undefined, bad);
    }
  });
});

describe('event names', () => {
  it('allow identifiers-like names and refuse reserved ones', () => {
    for (const ok of ['message', 'score', 'goal.home', 'a:b-c_d']) assert.ok(isPublishableEvent(ok), ok);
    for (const bad of [
      '',
      'gap',
      'open',
      'close',
      'deleted',
      'heartbeat',
      'error',
      'cometa.open',
      '1x',
      'a b',
      'x'.repeat(65),
    ]) {
      assert.ok(!isPublishableEvent(bad), bad);
    }
  });
});

describe('SSE parser', () => {
  const stream =
    'retry: 2000\nid: e-1\nevent: open\ndata: {"a":1}\n\n:heartbeat\n\ndata: line1\r\ndata: line2\r\n\r\nid: e-2\rdata: x\r\r' +
    'event: ignored\n\n' +
    'data\n\n';
  const expected: SseEvent[] = [
    { id: 'e-1', event: 'open', data: '{"a":1}', retry: 2000 },
    { id: undefined, event: 'message', data: 'line1\nline2', retry: undefined },
    { id: 'e-2', event: 'message', data: 'x', retry: undefined },
    { id: undefined, event: 'message', data: '', retry: undefined },
  ];

  it('follows the event stream interpretation rules', () => {
    const got: SseEvent[] = [];
    let comments = 0;
    const p = new SseParser(
      (e) => got.push(e),
      () => comments++,
    );
    p.push(stream);
    assert.deepEqual(got, expected);
    assert.equal(comments, 1);
  });

  it('gives the same events whatever the chunk boundaries', () => {
    for (let size = 1; size <= 7; size++) {
      const got: SseEvent[] = [];
      const p = new SseParser((e) => got.push(e));
      for (let i = 0; i < stream.length; i += size) p.push(stream.slice(i, i + size));
      assert.deepEqual(got, expected, `chunks of ${size}`);
    }
  });
});

describe('NDJSON parser', () => {
  it('parses lines across chunks, counts blank heartbeats and reports bad lines', () => {
    const text = '{"a":1}\n\n[2]\nnot json\n"s"\n{"partial"';
    for (let size = 1; size <= text.length; size += 3) {
      const values: unknown[] = [];
      const bad: string[] = [];
      let blanks = 0;
      const p = new NdjsonParser(
        (v) => values.push(v),
        () => blanks++,
        (l) => bad.push(l),
      );
      for (let i = 0; i < text.length; i += size) p.push(text.slice(i, i + size));
      assert.deepEqual(values, [{ a: 1 }, [2], 's']);
      assert.equal(blanks, 1);
      assert.deepEqual(bad, ['not json']);
    }
  });
});
