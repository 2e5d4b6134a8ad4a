/**
 * A JSON-mode Durable Stream is a cometa channel too: what is appended through the protocol is
 * delivered over every cometa transport (WebSocket, SSE, XHR streaming, long-poll, JSONP and
 * poll), with the stream offset in each message, and a subscriber that drops resumes from its
 * cursor without losing or repeating a message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Envelope } from '../../src/protocol/envelope.js';
import { startHub, type TestHub } from '../helpers/hub.js';
import { openSubscription } from '../helpers/transport-clients.js';
import { DRIVERS, settled } from '../helpers/transport-suite.js';

const messages = (es: Envelope[]) => es.filter((e) => e.id !== null);

describe('Durable Streams bridged to cometa channels', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ heartbeatMs: 100 });
  });
  after(() => t.close());

  const append = async (path: string, body: unknown) => {
    const res = await fetch(`${t.url}/v1/stream/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 204);
    return res.headers.get('stream-next-offset');
  };

  for (const driver of DRIVERS) {
    it(`tails a stream over ${driver} and resumes from its cursor`, async () => {
      const path = `bridge/${driver}`;
      const channel = `ds.bridge.${driver}`;
      const put = await fetch(`${t.url}/v1/stream/${path}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(put.status, 201);
      const first = openSubscription(driver, t.url, [channel]);
      await settled(t, first, channel);
      await append(path, [{ tok: 'a' }, { tok: 'b' }]);
      const lastOffset = await append(path, { tok: 'c' });
      const got = messages(await first.waitFor(3));
      first.close();
      assert.deepEqual(
        got.map((e) => (e.data as { data: unknown }).data),
        [{ tok: 'a' }, { tok: 'b' }, { tok: 'c' }],
      );
      const offsets = got.map((e) => (e.data as { offset: string }).offset);
      assert.equal(offsets[2], lastOffset, 'the last message carries the offset the append answered');
      // The offset of a message resumes a protocol read right after it.
      const rest = await fetch(`${t.url}/v1/stream/${path}?offset=${offsets[0]}`);
      assert.deepEqual(await rest.json(), [{ tok: 'b' }, { tok: 'c' }]);

      // Appends while the subscriber is away arrive once it resumes from its cursor.
      await append(path, { tok: 'd' });
      await append(path, { tok: 'e' });
      const resumed = openSubscription(driver, t.url, [channel], { since: got[2]!.id! });
      const later = messages(await resumed.waitFor(2));
      resumed.close();
      assert.deepEqual(
        later.map((e) => (e.data as { data: unknown }).data),
        [{ tok: 'd' }, { tok: 'e' }],
      );
      assert.equal(messages(resumed.envelopes).length, 2);
    });
  }

  it('closing the stream publishes ds.closed; deleting it drops the channel', async () => {
    const path = 'bridge/lifecycle';
    const channel = 'ds.bridge.lifecycle';
    await fetch(`${t.url}/v1/stream/${path}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
    });
    const sub = openSubscription('sse', t.url, [channel]);
    await settled(t, sub, channel);
    await append(path, 1);
    await fetch(`${t.url}/v1/stream/${path}`, { method: 'POST', headers: { 'stream-closed': 'true' } });
    await fetch(`${t.url}/v1/stream/${path}`, { method: 'DELETE' });
    const all = await sub.waitFor(3);
    sub.close();
    assert.deepEqual(
      all.map((e) => e.event),
      ['message', 'ds.closed', 'deleted'],
    );
  });

  it('byte-mode streams and paths that are not channel names are not bridged', async () => {
    await fetch(`${t.url}/v1/stream/bridge/bytes`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
    });
    await fetch(`${t.url}/v1/stream/bridge/bytes`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'abc',
    });
    const info = await fetch(`${t.url}/pub/ds.bridge.bytes`);
    assert.equal(((await info.json()) as { lastId: string | null }).lastId, null);
  });
});
