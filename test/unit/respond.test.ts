import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headerList } from '../../src/hub/http/respond.js';

describe('headerList (flat writeHead headers)', () => {
  it('puts extra headers first, then the fixed ones', () => {
    assert.deepEqual(
      headerList({ 'Access-Control-Allow-Origin': '*', Vary: 'Origin' }, 'Content-Type', 'a/b'),
      ['Access-Control-Allow-Origin', '*', 'Vary', 'Origin', 'Content-Type', 'a/b'],
    );
  });

  it('lets a fixed header win over an extra one of the same name, in any case, as a spread did', () => {
    assert.deepEqual(headerList({ 'content-type': 'text/html', 'Retry-After': '1' }, 'Content-Type', 'a/b'), [
      'Retry-After',
      '1',
      'Content-Type',
      'a/b',
    ]);
  });

  it('returns the fixed list alone without extras', () => {
    assert.deepEqual(headerList(undefined, 'Cache-Control', 'no-store'), ['Cache-Control', 'no-store']);
    assert.deepEqual(headerList({}, 'Cache-Control', 'no-store'), ['Cache-Control', 'no-store']);
  });
});
