/**
 * cometa/client's readStream(): catch-up and long-poll reads of a Durable Stream from an offset,
 * resuming where the last read ended, to the closed stream's end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readStream } from '../../src/client/index.js';
import { sleep, startHub, type TestHub } from '../helpers/hub.js';

describe('cometa/client readStream()', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ streams: { longPollTimeout: 1 } });
  });
  after(() => t.close());

  test('reads from -1, resumes from the offset, waits with long-poll, ends when closed', async () => {
    const url = `${t.url}/v1/stream/reader/answer`;
    await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '["a","b"]' });
    const first = await readStream<string[]>(url, '-1');
    assert.deepEqual(first.data, ['a', 'b']);
    assert.equal(first.closed, false);

    // Nothing new: a long-poll read times out (204) at the same offset.
    const idle = await readStream<string[]>(url, first.offset, 'long-poll');
    assert.equal(idle.offset, first.offset);
    assert.equal(idle.closed, false);

    // A long-poll read waiting at the tail gets the next append.
    const waiting = readStream<string[]>(url, first.offset, 'long-poll');
    await sleep(100);
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '"c"' });
    const next = await waiting;
    assert.deepEqual(next.data, ['c']);

    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stream-closed': 'true' },
      body: '"d"',
    });
    const last = await readStream<string[]>(url, next.offset, 'long-poll');
    assert.deepEqual(last.data, ['d']);
    assert.equal(last.closed, true);
    const eof = await readStream<string[]>(url, last.offset, 'long-poll');
    assert.equal(eof.closed, true);
    assert.equal(eof.offset, last.offset);
  });

  test('a missing stream rejects with the 404 as a CometaError', async () => {
    await assert.rejects(
      readStream(`${t.url}/v1/stream/reader/none`, '-1'),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_HTTP_STATUS');
        return true;
      },
    );
  });
});
