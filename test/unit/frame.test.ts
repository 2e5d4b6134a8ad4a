/** Frame builds the envelope around a store's JSON text exactly as JSON.stringify of the envelope would. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Frame } from '../../src/hub/frame.js';

const values: unknown[] = [
  null,
  0,
  -1.5e-7,
  'plain',
  'quotes " and \\ and \n newline, emoji 🎉, U+2028 \u2028',
  { t: 1795523432111.123, s: 7, p: 'xxxx' },
  [1, 'two', { three: [3] }],
  { nested: { deep: { er: true } }, empty: {}, list: [] },
];

describe('Frame.message', () => {
  it('gives the same envelope text from stored JSON as from the data', () => {
    for (const [i, data] of values.entries()) {
      const base = { seq: i + 1, channel: 'scores.nba', event: 'score', data, time: 1795523432111 + i };
      const fromData = Frame.message(base, 'ep0ch');
      const fromJson = Frame.message({ ...base, json: JSON.stringify(data) }, 'ep0ch');
      assert.equal(fromJson.json, fromData.json);
      const { seq: _seq, ...envelope } = base;
      assert.deepEqual(JSON.parse(fromJson.json), { id: `ep0ch-${i + 1}`, ...envelope });
    }
  });
});
