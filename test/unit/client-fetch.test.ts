// cometa/client in Node: request() goes through fetch (there is no XMLHttpRequest) against the same
// Ajax test server; the browser-only parts say so with ERR_BROWSER_ONLY.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  addURLParam,
  beacon,
  type CometaError,
  create,
  get,
  isAbortError,
  isHTTPError,
  jsonp,
  ping,
  post,
  request,
  requestSync,
} from '../../src/client/index.js';
import { type AjaxServer, startAjaxServer } from '../helpers/ajax-server.js';
import { startHub } from '../helpers/hub.js';

let server: AjaxServer;
let O: string;
before(async () => {
  server = await startAjaxServer();
  O = server.origin;
});
after(() => server?.close());

const failure = async (p: Promise<unknown>): Promise<CometaError> => {
  try {
    await p;
  } catch (e) {
    return e as CometaError;
  }
  throw new Error('expected a rejection');
};

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

test('Node: GET with query and headers, JSON decoded, xhr null, case-insensitive headers', async () => {
  assert.equal(typeof XMLHttpRequest, 'undefined');
  const res = await request<Echo>(`${O}/echo`, {
    query: { a: 'x y', b: [1, 2] },
    headers: { 'X-Test': 't' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.statusText, 'OK');
  assert.equal(res.xhr, null);
  assert.equal(res.url, `${O}/echo?a=x%20y&b=1&b=2`);
  assert.equal(res.data.url, '/echo?a=x%20y&b=1&b=2');
  assert.equal(res.data.headers['x-test'], 't');
  assert.equal(res.headers.get('Content-Type'), 'application/json');
});

test('Node: URL objects work wherever a URL is taken', async () => {
  const res = await request<Echo>(new URL(`${O}/echo?a=1`), { query: { b: 2 } });
  assert.equal(res.data.url, '/echo?a=1&b=2');
  assert.equal((await post<Echo>(new URL(`${O}/echo`), 'x')).data.method, 'POST');
  assert.equal(
    addURLParam(new URL('https://x.example/s?q=1#top'), 'page', 2),
    'https://x.example/s?q=1&page=2#top',
  );
});

test('Node: bodies (JSON object, string, URLSearchParams) and create() defaults', async () => {
  const api = create({ baseURL: O, headers: { 'X-App': 'a' } });
  const json = await api.post<Echo>('/echo', { a: 1 });
  assert.equal(json.data.body, '{"a":1}');
  assert.equal(json.data.headers['content-type'], 'application/json');
  assert.equal(json.data.headers['x-app'], 'a');
  const text = await post<Echo>(`${O}/echo`, 'plain');
  assert.deepEqual(
    [text.data.body, text.data.headers['content-type']],
    ['plain', 'text/plain;charset=UTF-8'],
  );
  const params = await post<Echo>(`${O}/echo`, new URLSearchParams({ a: 'b c' }));
  assert.equal(params.data.body, 'a=b+c');
  assert.match(params.data.headers['content-type']!, /^application\/x-www-form-urlencoded/);
});

test('Node: responseType text, blob, arraybuffer; auto XML is text; mimeType picks the decoder', async () => {
  assert.equal(typeof (await get(`${O}/echo`, { responseType: 'text' })).data, 'string');
  const blob = (await get(`${O}/large?size=1000`, { responseType: 'blob' })).data as Blob;
  assert.deepEqual([blob.size, blob.type], [1000, 'application/octet-stream']);
  const buffer = (await get(`${O}/large?size=777`, { responseType: 'arraybuffer' })).data as ArrayBuffer;
  assert.equal(buffer.byteLength, 777);
  assert.match((await get(`${O}/xml`)).data as string, /^<\?xml/);
  const forced = await get(`${O}/text?type=text/plain&body=%5B1%5D`, { mimeType: 'application/json' });
  assert.deepEqual(forced.data, [1]);
});

test('Node: download progress from the body stream, lengthComputable with Content-Length', async () => {
  const size = 1024 * 1024;
  const seen: Array<{ loaded: number; total: number; lengthComputable: boolean }> = [];
  await get(`${O}/large?size=${size}`, {
    responseType: 'arraybuffer',
    onDownloadProgress: (p) => seen.push(p),
  });
  assert.ok(seen.length >= 2);
  assert.ok(seen.every((p) => p.lengthComputable && p.total === size));
  assert.equal(seen.at(-1)?.loaded, size);
});

test('Node: ERR_HTTP_STATUS with status, headers, body; 304 resolves', async () => {
  const e = await failure(get(`${O}/status?code=503`));
  assert.ok(isHTTPError(e));
  assert.equal(e.status, 503);
  assert.deepEqual(e.data, { error: 'status 503' });
  assert.equal(e.headers.get('content-type'), 'application/json');
  const res = await get(`${O}/etag`, { headers: { 'If-None-Match': '"v1"' } });
  assert.equal(res.status, 304);
});

test("Node: ERR_HTTP_STATUS's message names the server's error code and message when the body has them", async () => {
  const t = await startHub();
  try {
    const e = await failure(get(`${t.url}/sub/a?since=null&mode=poll`));
    assert.ok(isHTTPError<{ error: { code: string } }>(e));
    assert.equal(e.data.error.code, 'ERR_BAD_CURSOR');
    assert.match(
      e.message,
      /^cometa: HTTP 400 Bad Request ERR_BAD_CURSOR: .+ \(GET http:\/\/.+\/sub\/a\?since=null&mode=poll\)$/,
    );
  } finally {
    await t.close();
  }
  // A body without a code: the status alone.
  const plain = await failure(get(`${O}/status?code=503`));
  assert.equal(plain.message, `cometa: HTTP 503 Service Unavailable (GET ${O}/status?code=503)`);
});

test('Node: auto decodes application/json and +json types as JSON, not application/json-seq', async () => {
  const body = encodeURIComponent('{"a":1}');
  const as = async (type: string) =>
    (await get(`${O}/text?type=${encodeURIComponent(type)}&body=${body}`)).data;
  assert.deepEqual(await as('application/json'), { a: 1 });
  assert.deepEqual(await as('application/json; charset=utf-8'), { a: 1 });
  assert.deepEqual(await as('application/problem+json'), { a: 1 });
  assert.deepEqual(await as('application/vnd.api+json;charset=utf-8'), { a: 1 });
  assert.equal(await as('application/json-seq'), '{"a":1}');
  assert.equal(await as('application/jsonlines'), '{"a":1}');
  assert.equal(await as('text/x-json-like'), '{"a":1}');
});

test('Node: ERR_PARSE, ERR_TIMEOUT (also while reading the body), ERR_ABORTED, ERR_NETWORK', async () => {
  assert.equal((await failure(get(`${O}/text?type=application/json&body=nope`))).code, 'ERR_PARSE');
  assert.equal((await failure(get(`${O}/echo?delay=2000`, { timeout: 100 }))).code, 'ERR_TIMEOUT');
  assert.equal((await failure(get(`${O}/large?size=${8 << 20}`, { timeout: 150 }))).code, 'ERR_TIMEOUT');
  const ctrl = new AbortController();
  setTimeout(() => ctrl.abort(new Error('stop')), 50);
  const aborted = await failure(get(`${O}/echo?delay=2000`, { signal: ctrl.signal }));
  assert.ok(isAbortError(aborted));
  assert.equal((aborted.cause as Error).message, 'stop');
  const closed = await startAjaxServer();
  await closed.close();
  assert.equal((await failure(get(`${closed.origin}/echo`))).code, 'ERR_NETWORK');
});

test('Node: retry honours Retry-After and counts attempts on the server', async () => {
  const res = await get(`${O}/flaky?key=node-retry&fail=2&status=429&retryAfter=0`, { retry: 2 });
  assert.deepEqual(res.data, { attempt: 3 });
  assert.equal(server.hits('node-retry').length, 3);
});

test('Node: browser-only features fail with ERR_BROWSER_ONLY', async () => {
  const upload = await failure(post(`${O}/upload`, 'x', { onUploadProgress: () => {} }));
  assert.equal(upload.code, 'ERR_BROWSER_ONLY');
  assert.match(upload.message, /onUploadProgress/);
  assert.equal((await failure(get(`${O}/xml`, { responseType: 'xml' }))).code, 'ERR_BROWSER_ONLY');
  assert.equal((await failure(jsonp(`${O}/jsonp`))).code, 'ERR_BROWSER_ONLY');
  assert.equal((await failure(ping(`${O}/pixel.gif`))).code, 'ERR_BROWSER_ONLY');
  assert.equal((await failure(beacon(`${O}/beacon`, { a: 1 }))).code, 'ERR_BROWSER_ONLY');
  assert.throws(() => requestSync(`${O}/echo`), { name: 'CometaError', code: 'ERR_BROWSER_ONLY' });
});
