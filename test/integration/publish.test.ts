/** POST/GET/DELETE /pub/{channel}: body types, answers, limits and every refusal. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publish, sleep, startHub, type TestHub } from '../helpers/hub.js';
import { openSubscription } from '../helpers/transport-clients.js';

let t: TestHub;
before(async () => {
  t = await startHub({ limits: { maxBodyBytes: 1024 } });
});
after(() => t.close());

/** Publishes a raw body and returns the status and parsed JSON answer. */
async function post(channel: string, body: BodyInit, headers: Record<string, string> = {}, query = '') {
  const res = await fetch(`${t.url}/pub/${channel}${query}`, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** The data of the last message stored on a channel. */
async function lastData(channel: string): Promise<unknown> {
  const res = await fetch(`${t.url}/sub/${channel}?mode=poll&last=1`);
  const answer = (await res.json()) as { messages: Array<{ data: unknown; event: string }> };
  return answer.messages[0];
}

describe('publishing', () => {
  it('answers 202 with the id and channel once stored', async () => {
    const r = await post('pub.json', JSON.stringify({ a: 1 }), { 'content-type': 'application/json' });
    assert.equal(r.status, 202);
    assert.equal(r.body.channel, 'pub.json');
    assert.match(String(r.body.id), /^[a-z0-9]+-\d+$/);
    assert.equal(r.headers.get('cometa-id'), r.body.id);
    assert.deepEqual(((await lastData('pub.json')) as { data: unknown }).data, { a: 1 });
  });

  it('parses JSON, text, no type, urlencoded and multipart bodies', async () => {
    await post('pub.types', '"str"', { 'content-type': 'application/vnd.x+json' });
    assert.equal(((await lastData('pub.types')) as { data: unknown }).data, 'str');
    await post('pub.types', 'plain text', { 'content-type': 'text/plain; charset=utf-8' });
    assert.equal(((await lastData('pub.types')) as { data: unknown }).data, 'plain text');
    await post('pub.types', new Blob(['no type']));
    assert.equal(((await lastData('pub.types')) as { data: unknown }).data, 'no type');
    await post('pub.types', 'a=1&b=two+words&a=3&__proto__=x', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.deepEqual(((await lastData('pub.types')) as { data: unknown }).data, {
      a: ['1', '3'],
      b: 'two words',
      ['__proto__']: 'x',
    });
    const form = new FormData();
    form.append('team', 'home');
    form.append('score', '3');
    form.append('score', '4');
    const r = await post('pub.types', form);
    assert.equal(r.status, 202);
    assert.deepEqual(((await lastData('pub.types')) as { data: unknown }).data, {
      team: 'home',
      score: ['3', '4'],
    });
  });

  it('names the event with ?event= and refuses reserved or malformed names', async () => {
    await post('pub.ev', '1', { 'content-type': 'application/json' }, '?event=goal');
    assert.equal(((await lastData('pub.ev')) as { event: string }).event, 'goal');
    for (const bad of ['gap', 'open', '1abc', 'x'.repeat(65), 'a b']) {
      const r = await post(
        'pub.ev',
        '1',
        { 'content-type': 'application/json' },
        `?event=${encodeURIComponent(bad)}`,
      );
      assert.equal(r.status, 400, bad);
      assert.equal((r.body.error as { code: string }).code, 'ERR_BAD_EVENT');
    }
  });

  it('reinterprets a text/plain body with ?format= (XDomainRequest-style clients)', async () => {
    await post('pub.xdr', '{"x":[1,2]}', { 'content-type': 'text/plain' }, '?format=json');
    assert.deepEqual(((await lastData('pub.xdr')) as { data: unknown }).data, { x: [1, 2] });
    await post('pub.xdr', 'k=v&k=w', { 'content-type': 'text/plain' }, '?format=form');
    assert.deepEqual(((await lastData('pub.xdr')) as { data: unknown }).data, { k: ['v', 'w'] });
  });

  it('refuses bad bodies with the right 4xx and a clear code', async () => {
    const cases: Array<[string, BodyInit, Record<string, string>, string, number, string]> = [
      ['bad JSON', '{nope', { 'content-type': 'application/json' }, '', 400, 'ERR_BAD_BODY'],
      [
        'an unsupported type',
        'x',
        { 'content-type': 'application/octet-stream' },
        '',
        415,
        'ERR_UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'a body over the limit',
        'x'.repeat(2000),
        { 'content-type': 'text/plain' },
        '',
        413,
        'ERR_BODY_TOO_LARGE',
      ],
      ['an unknown ?format=', 'x', { 'content-type': 'text/plain' }, '?format=xml', 400, 'ERR_BAD_PARAM'],
      [
        'a broken multipart body',
        '--x\r\nnope',
        { 'content-type': 'multipart/form-data; boundary=x' },
        '',
        400,
        'ERR_BAD_BODY',
      ],
    ];
    for (const [what, body, headers, query, status, code] of cases) {
      const r = await post('pub.bad', body, headers, query);
      assert.equal(r.status, status, what);
      assert.equal((r.body.error as { code: string }).code, code, what);
    }
    const withFile = new FormData();
    withFile.append('field', 'ok');
    withFile.append('upload', new Blob(['data']), 'a.txt');
    const r = await post('pub.bad', withFile);
    assert.equal(r.status, 415);
    assert.equal((r.body.error as { code: string }).code, 'ERR_FILE_NOT_ALLOWED');
    assert.match((r.body.error as { message: string }).message, /upload/);
    const info = (await (await fetch(`${t.url}/pub/pub.bad`)).json()) as { stored: number };
    assert.equal(info.stored, 0, 'nothing refused was stored');
  });

  it('refuses a streamed body over the limit without Content-Length', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${t.url}/pub/pub.big`,
        { method: 'POST', headers: { 'content-type': 'text/plain' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('y'.repeat(200));
      req.end();
    });
    assert.equal(status, 413);
  });

  it('refuses bad channel names, unknown routes and wrong methods', async () => {
    const bad = await post('bad..name', '1');
    assert.equal(bad.status, 400);
    assert.equal((bad.body.error as { code: string }).code, 'ERR_BAD_CHANNEL');
    const put = await fetch(`${t.url}/pub/a`, { method: 'PUT', body: 'x' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET, HEAD, POST, DELETE, OPTIONS');
    assert.equal(((await put.json()) as { error: { code: string } }).error.code, 'ERR_METHOD_NOT_ALLOWED');
    const subPost = await fetch(`${t.url}/sub/a`, { method: 'POST', body: 'x' });
    assert.equal(subPost.status, 405);
    assert.equal(subPost.headers.get('allow'), 'GET, HEAD, OPTIONS');
    const none = await fetch(`${t.url}/pub/`);
    assert.equal(none.status, 404);
  });

  it('answers channel info with GET', async () => {
    const s = openSubscription('sse', t.url, ['pub.info']);
    await sleep(150);
    const id = await publish(t.url, 'pub.info', 1);
    await publish(t.url, 'pub.info', 2).then(() => undefined);
    const info = (await (await fetch(`${t.url}/pub/pub.info`)).json()) as Record<string, unknown>;
    s.close();
    assert.equal(info.channel, 'pub.info');
    assert.equal(info.stored, 2);
    assert.equal(info.subscribers, 1);
    assert.notEqual(info.lastId, id);
    const empty = (await (await fetch(`${t.url}/pub/pub.never`)).json()) as Record<string, unknown>;
    assert.deepEqual(empty, { channel: 'pub.never', lastId: null, stored: 0, subscribers: 0 });
  });

  it('DELETE drops the history and tells live subscribers; old cursors then see a deleted gap', async () => {
    const first = await publish(t.url, 'pub.del', 1);
    await publish(t.url, 'pub.del', 2);
    const s = openSubscription('sse', t.url, ['pub.del']);
    await sleep(150);
    const res = await fetch(`${t.url}/pub/pub.del`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    const [e] = await s.waitFor(1);
    s.close();
    assert.equal(e!.event, 'deleted');
    assert.equal(e!.id, null);
    const info = (await (await fetch(`${t.url}/pub/pub.del`)).json()) as { stored: number };
    assert.equal(info.stored, 0);
    const after = (await (await fetch(`${t.url}/sub/pub.del?mode=poll&since=${first}`)).json()) as {
      messages: Array<{ event: string; data: { reason: string } }>;
    };
    assert.equal(after.messages[0]?.event, 'gap');
    assert.equal(after.messages[0]?.data.reason, 'deleted');
  });

  it('publishes from server code with the same ids', async () => {
    const s = openSubscription('stream', t.url, ['pub.server']);
    await sleep(150);
    const id = await t.hub.publish('pub.server', { from: 'code' }, { event: 'note' });
    const [e] = await s.waitFor(1);
    s.close();
    assert.equal(e!.id, id);
    assert.equal(e!.event, 'note');
    await assert.rejects(t.hub.publish('bad name', 1), /channel/);
  });

  it('serves the client bundle at /cometa.js with an ETag', async () => {
    const res = await fetch(`${t.url}/cometa.js`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /javascript/);
    const etag = res.headers.get('etag')!;
    assert.ok((await res.text()).length > 100);
    const again = await fetch(`${t.url}/cometa.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  it('answers health and readiness', async () => {
    assert.deepEqual(await (await fetch(`${t.url}/healthz`)).json(), { ok: true });
    assert.deepEqual(await (await fetch(`${t.url}/readyz`)).json(), { ready: true });
  });
});
