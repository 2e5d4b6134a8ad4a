// Wildcard patterns: coverage (authorization of a pattern by a grant), overlap (the channel policy
// of a pattern), and the trie that matches published channels against subscribed patterns, each
// checked against the plain matcher on generated names and patterns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PatternIndex } from '../../src/hub/pattern-index.js';
import { compilePattern, patternCovers, patternsOverlap } from '../../src/protocol/channel.js';

const seg = fc.constantFrom('a', 'b', 'c');
const channel = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));
const pattern = fc
  .array(fc.constantFrom('a', 'b', '*', '**'), { minLength: 1, maxLength: 4 })
  .map((s) => s.join('.'));
/** Every channel of up to 8 segments over a, b, c: enough to decide coverage and overlap of two patterns of up to 4 segments (a witness needs at most 8). */
const ALL: string[] = [];
for (let len = 1; len <= 8; len++) {
  const walk = (prefix: string[]) => {
    if (prefix.length === len) return void ALL.push(prefix.join('.'));
    for (const s of ['a', 'b', 'c']) walk([...prefix, s]);
  };
  walk([]);
}

describe('wildcard patterns', () => {
  it('covers: examples', () => {
    assert.equal(patternCovers('scores.*', 'scores.*'), true);
    assert.equal(patternCovers('scores.**', 'scores.*'), true);
    assert.equal(patternCovers('scores.*', 'scores.**'), false);
    assert.equal(patternCovers('scores.nba', 'scores.*'), false);
    assert.equal(patternCovers('**', 'a.*.b.**'), true);
    assert.equal(patternCovers('*.*', 'a.*'), true);
    assert.equal(
      compilePattern('scores.*')('scores.*'),
      true,
      'a grant matcher given a pattern tests coverage',
    );
    assert.equal(compilePattern('scores.nba')('scores.*'), false);
  });

  it('covers is sound: a yes means every channel of the inner pattern matches the outer', () => {
    fc.assert(
      fc.property(pattern, pattern, (outer, inner) => {
        if (!patternCovers(outer, inner)) return;
        const o = compilePattern(outer);
        const i = compilePattern(inner);
        for (const c of ALL) if (i(c)) assert.ok(o(c), `${outer} should match ${c} (covers ${inner})`);
      }),
      { numRuns: 200 },
    );
  });

  it('covers is exact on patterns without a ** in the inner one', () => {
    fc.assert(
      fc.property(pattern, pattern, (outer, inner) => {
        if (inner.includes('**')) return;
        const o = compilePattern(outer);
        const i = compilePattern(inner);
        const contained = ALL.every((c) => !i(c) || o(c));
        assert.equal(patternCovers(outer, inner), contained, `${outer} covers ${inner}`);
      }),
      { numRuns: 200 },
    );
  });

  it('overlap is exact: some channel matches both', () => {
    fc.assert(
      fc.property(pattern, pattern, (a, b) => {
        const ma = compilePattern(a);
        const mb = compilePattern(b);
        const some = ALL.some((c) => ma(c) && mb(c));
        assert.equal(patternsOverlap(a, b), some, `${a} overlaps ${b}`);
      }),
      { numRuns: 200 },
    );
  });

  it('the trie finds exactly the patterns that match a channel', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(pattern, { maxLength: 12 }),
        fc.array(channel, { maxLength: 10 }),
        (pats, chans) => {
          const index = new PatternIndex<string>();
          for (const p of pats) index.add(p, p);
          for (const c of chans) {
            const found = index
              .match(c)
              .flatMap((s) => [...s])
              .sort();
            const expected = pats.filter((p) => compilePattern(p)(c)).sort();
            assert.deepEqual(found, expected, c);
          }
          // Removing everything and pruning leaves no match and no pattern.
          for (const p of pats) index.delete(p, p);
          index.prune();
          assert.equal(index.size, 0);
          for (const c of chans) assert.equal(index.match(c).length, 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
