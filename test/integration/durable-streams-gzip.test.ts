/**
 * Durable Streams catch-up reads are gzipped above `streams.gzipMinBytes` for clients that accept
 * it, with `Vary: Accept-Encoding` and an ETag of their own; held reads (long-poll, SSE) never are.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createHub } from '../../src/hub/index.js';
import { startHub, type TestHub } from '../helpers/hub.js';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A GET with exactly the given headers (fetch would add and undo Accept-Encoding itself). */
function get(url: string, headers: Record<string, string> = {}, maxMs = 5000): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      const timer = setTimeout(() => res.destroy(), maxMs);
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('close', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function put(url: string, type: string, body: string): Promise<void> {
  const res = await fetch(url, { method: 'PUT', headers: { 'Content-Type': type }, body });
  assert.equal(res.status, 201);
}

const big = JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ token: `word-${i}`, i })));

describe('Durable Streams gzip', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ streams: { longPollTimeout: 1 } });
    await put(`${t.url}/v1/stream/gz/big`, 'application/json', big);
    await put(`${t.url}/v1/stream/gz/small`, 'application/json', '[1,2,3]');
  });
  after(() => t.close());

  test('a large catch-up read is gzipped for a client that accepts gzip, and is the same data', async () => {
    const url = `${t.url}/v1/stream/gz/big?offset=-1`;
    const plain = await get(url);
    const zipped = await get(url, { 'Accept-Encoding': 'br, gzip;q=0.8' });
    assert.equal(plain.status, 200);
    assert.equal(zipped.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.match(String(plain.headers.vary), /Accept-Encoding/);
    assert.match(String(zipped.headers.vary), /Accept-Encoding/);
    assert.ok(zipped.body.length < plain.body.length / 3, `${zipped.body.length} vs ${plain.body.length}`);
    assert.equal(Number(zipped.headers['content-length']), zipped.body.length);
    assert.deepEqual(gunzipSync(zipped.body), plain.body);
    assert.deepEqual(JSON.parse(plain.body.toString()), JSON.parse(big));
    assert.equal(zipped.headers['stream-next-offset'], plain.headers['stream-next-offset']);
    // Two representations, two ETags; each revalidates to 304.
    assert.notEqual(zipped.headers.etag, plain.headers.etag);
    const again = await get(url, { 'Accept-Encoding': 'gzip', 'If-None-Match': String(zipped.headers.etag) });
    assert.equal(again.status, 304);
    const crossed = await get(url, { 'If-None-Match': String(zipped.headers.etag) });
    assert.equal(crossed.status, 200);
  });

  test('gzip;q=0 and unknown codings get identity; * accepts gzip', async () => {
    const url = `${t.url}/v1/stream/gz/big?offset=-1`;
    for (const ae of ['gzip;q=0', 'br', 'identity', '*;q=0', 'gzip;q=0, *']) {
      const r = await get(url, { 'Accept-Encoding': ae });
      assert.equal(r.headers['content-encoding'], undefined, ae);
    }
    const star = await get(url, { 'Accept-Encoding': '*' });
    assert.equal(star.headers['content-encoding'], 'gzip');
  });

  test('an answer under the threshold is sent as is, without Vary: Accept-Encoding', async () => {
    const r = await get(`${t.url}/v1/stream/gz/small?offset=-1`, { 'Accept-Encoding': 'gzip' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], undefined);
    assert.doesNotMatch(String(r.headers.vary ?? ''), /Accept-Encoding/);
    assert.equal(r.body.toString(), '[1,2,3]');
  });

  test('long-poll and SSE reads are never gzipped', async () => {
    const path = `${t.url}/v1/stream/gz/live`;
    await put(path, 'application/json', '[0]');
    const head = await get(`${path}?offset=-1`);
    const tail = String(head.headers['stream-next-offset']);
    const held = get(`${path}?offset=${tail}&live=long-poll`, { 'Accept-Encoding': 'gzip' });
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: big,
    });
    assert.equal(res.status, 204);
    const lp = await held;
    assert.equal(lp.status, 200);
    assert.equal(lp.headers['content-encoding'], undefined);
    assert.ok(lp.body.length > 1024);
    const sse = await get(`${path}?offset=-1&live=sse`, { 'Accept-Encoding': 'gzip' }, 500);
    assert.equal(sse.status, 200);
    assert.equal(sse.headers['content-encoding'], undefined);
    assert.match(sse.body.toString(), /word-199/);
  });

  test('streams.gzipMinBytes: 0 turns compression off', async () => {
    const off = await startHub({ streams: { gzipMinBytes: 0 } });
    try {
      await put(`${off.url}/v1/stream/gz/big`, 'application/json', big);
      const r = await get(`${off.url}/v1/stream/gz/big?offset=-1`, { 'Accept-Encoding': 'gzip' });
      assert.equal(r.headers['content-encoding'], undefined);
      assert.doesNotMatch(String(r.headers.vary ?? ''), /Accept-Encoding/);
    } finally {
      await off.close();
    }
  });

  test('re-reading a page takes it from the cache of compressed pages: one compression for many reads', async () => {
    const stats = t.hub.core.stats;
    const url = `${t.url}/v1/stream/gz/cached`;
    await put(url, 'application/json', big);
    const first = await get(`${url}?offset=-1`, { 'Accept-Encoding': 'gzip' });
    const zipped = stats.streamsGzipped;
    const cached = stats.streamsGzipCached;
    for (let i = 0; i < 5; i++) {
      const again = await get(`${url}?offset=-1`, { 'Accept-Encoding': 'gzip' });
      assert.equal(again.headers['content-encoding'], 'gzip');
      assert.deepEqual(again.body, first.body);
      assert.equal(again.headers.etag, first.headers.etag);
    }
    // The same records asked for with another spelling of the start offset: the same page.
    const spelled = await get(`${url}?offset=0000000000000000_0000000000000001`, {
      'Accept-Encoding': 'gzip',
    });
    assert.deepEqual(spelled.body, first.body);
    assert.equal(stats.streamsGzipped, zipped, 'no compression for the same page again');
    assert.equal(stats.streamsGzipCached, cached + 6);
    // Another page (after an append) is compressed once, and has the data appended.
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: big,
    });
    assert.equal(res.status, 204);
    const grown = await get(`${url}?offset=-1`, { 'Accept-Encoding': 'gzip' });
    assert.equal(stats.streamsGzipped, zipped + 1);
    assert.equal(JSON.parse(gunzipSync(grown.body).toString()).length, 400);
    // A stream deleted and created again at the same path is another incarnation: not the old page.
    assert.equal((await fetch(url, { method: 'DELETE' })).status, 204);
    await put(url, 'application/json', JSON.stringify(JSON.parse(big).slice(0, 150)));
    const reborn = await get(`${url}?offset=-1`, { 'Accept-Encoding': 'gzip' });
    assert.equal(JSON.parse(gunzipSync(reborn.body).toString()).length, 150);
  });

  test('streams.gzipCacheBytes: 0 compresses every answer again', async () => {
    const nocache = await startHub({ streams: { gzipCacheBytes: 0 } });
    try {
      await put(`${nocache.url}/v1/stream/gz/big`, 'application/json', big);
      for (let i = 0; i < 3; i++) {
        const r = await get(`${nocache.url}/v1/stream/gz/big?offset=-1`, { 'Accept-Encoding': 'gzip' });
        assert.equal(r.headers['content-encoding'], 'gzip');
      }
      assert.equal(nocache.hub.core.stats.streamsGzipped, 3);
      assert.equal(nocache.hub.core.stats.streamsGzipCached, 0);
    } finally {
      await nocache.close();
    }
  });

  test('at most streams.gzipConcurrency compressions run at once; reads finding them busy get identity', async () => {
    const busy = await startHub({ streams: { gzipConcurrency: 1, gzipLevel: 9, gzipCacheBytes: 0 } });
    try {
      const url = `${busy.url}/v1/stream/gz/pages`;
      await put(url, 'text/plain', '');
      // Eight pages of about 1 MB of log-like text (each a page of its own: maxReadBytes is 1 MiB).
      const starts = ['-1'];
      for (let p = 0; p < 8; p++) {
        let text = '';
        for (let i = 0; text.length < 1_000_000; i++)
          text += `{"n":${p * 1e6 + i},"path":"/p/${(i * 7919) % 4099}"}\n`;
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'text/plain' },
          body: text,
        });
        assert.equal(res.status, 204);
        if (p < 7) starts.push(String(res.headers.get('stream-next-offset')));
      }
      const answers = await Promise.all(
        starts.map((o) => get(`${url}?offset=${o}`, { 'Accept-Encoding': 'gzip' })),
      );
      const stats = busy.hub.core.stats;
      const plain = answers.filter((a) => a.headers['content-encoding'] === undefined);
      assert.ok(plain.length >= 1, 'some reads found the one compression slot busy');
      assert.equal(stats.streamsGzipSkipped, plain.length);
      assert.equal(stats.streamsGzipped, answers.length - plain.length);
      for (const a of answers) {
        assert.equal(a.status, 200);
        const zipped = a.headers['content-encoding'] === 'gzip';
        const data = zipped ? gunzipSync(a.body) : a.body;
        assert.ok(data.length >= 1_000_000 && data.length < 1_100_000, String(data.length));
        // Each representation has its own ETag, as when the client had not asked for gzip.
        assert.equal(String(a.headers.etag).endsWith(':gz"'), zipped);
        assert.match(String(a.headers.vary), /Accept-Encoding/);
      }
    } finally {
      await busy.close();
    }
  });

  test('the gzip options are validated, naming the option', () => {
    assert.throws(
      () => createHub({ store: 'memory', streams: { gzipCacheBytes: -1 } }),
      /options\.streams\.gzipCacheBytes/,
    );
    assert.throws(
      () => createHub({ store: 'memory', streams: { gzipConcurrency: 0 } }),
      /options\.streams\.gzipConcurrency/,
    );
    assert.throws(
      () => createHub({ store: 'memory', streams: { gzipLevel: 10 } }),
      /options\.streams\.gzipLevel/,
    );
    assert.throws(
      () => createHub({ store: 'memory', streams: { gzipMinBytes: -1 } }),
      /options\.streams\.gzipMinBytes/,
    );
  });
});
