// cometa/client requests in real Chromium: the built bundle (dist/cometa.min.js) against the Ajax
// test server, every request option, errors, hooks, retries, create(), requestSync.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type AjaxServer, startAjaxServer } from '../helpers/ajax-server.js';
import { launchBrowser, type TestBrowser, type TestPage } from '../helpers/browser.js';

/** What `grab()` (defined in the page) reports of a rejection. */
interface Grabbed {
  code: string;
  name: string;
  message: string;
  status?: number;
  data?: unknown;
  guard: boolean;
}
declare global {
  var grab: (run: () => unknown) => Promise<Grabbed | null>;
}

let server: AjaxServer;
let browser: TestBrowser;
let page: TestPage;
let O: string;

before(async () => {
  server = await startAjaxServer();
  O = server.origin;
  browser = await launchBrowser();
  page = await browser.open(`${O}/`, { scripts: [`${O}/cometa.min.js`] });
  // Runs `run` and reports how it failed (null when it did not), with the isCometaError guard's verdict.
  await page.addScriptTag({
    content: `window.grab = async (run) => { try { await run(); return null; } catch (e) {
      return { code: e.code, name: e.name, message: e.message, status: e.status, data: e.data, guard: cometa.isCometaError(e) };
    } };`,
  });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('GET: status, statusText, JSON decoded by Content-Type, url, xhr, headers', async () => {
  const r = await page.evaluate(async (o) => {
    const res = await cometa.request(`${o}/echo`);
    return {
      status: res.status,
      statusText: res.statusText,
      method: (res.data as { method: string }).method,
      url: res.url,
      xhr: res.xhr instanceof XMLHttpRequest,
      type: res.headers.get('CONTENT-TYPE'),
    };
  }, O);
  assert.deepEqual(r, {
    status: 200,
    statusText: 'OK',
    method: 'GET',
    url: `${O}/echo`,
    xhr: true,
    type: 'application/json',
  });
});

test('query: encodeURIComponent, arrays repeated, null/undefined skipped, ? or & as needed, before #', async () => {
  const r = await page.evaluate(async (o) => {
    const res = await cometa.request(`${o}/echo?z=1#frag`, {
      query: { q: 'a b&c=d', tag: ['x', 'y'], none: null, nope: undefined, n: 0, é: 'ü' },
    });
    return res.data as { url: string; query: string[][] };
  }, O);
  assert.equal(r.url, '/echo?z=1&q=a%20b%26c%3Dd&tag=x&tag=y&n=0&%C3%A9=%C3%BC');
  assert.deepEqual(r.query, [
    ['z', '1'],
    ['q', 'a b&c=d'],
    ['tag', 'x'],
    ['tag', 'y'],
    ['n', '0'],
    ['é', 'ü'],
  ]);
  const helpers = await page.evaluate(() => [
    cometa.addURLParam('/a', 'x y', 1),
    cometa.addURLParam('/a?b=2', 'c', 'd'),
    cometa.addURLParam('/a?', 'c', 'd'),
    cometa.addURLParam('/a#h', 'c', 'd'),
    cometa.buildQuery({ a: [1, null, 2], b: undefined, c: true }),
  ]);
  assert.deepEqual(helpers, ['/a?x%20y=1', '/a?b=2&c=d', '/a?c=d', '/a?c=d#h', 'a=1&a=2&c=true']);
});

test('headers: set between open and send; names case-insensitive; create() defaults merged, null removes', async () => {
  const r = await page.evaluate(async (o) => {
    const api = cometa.create({
      baseURL: `${o}/`,
      headers: { 'X-App': 'app', 'X-Drop': 'd', 'X-Over': 'old' },
    });
    const res = await api.get('/echo', {
      headers: { 'x-over': 'new', 'X-Drop': null, 'X-Per-Request': '1' },
    });
    return (res.data as { headers: Record<string, string> }).headers;
  }, O);
  assert.equal(r['x-app'], 'app');
  assert.equal(r['x-over'], 'new');
  assert.equal(r['x-per-request'], '1');
  assert.equal(r['x-drop'], undefined);
});

test('response headers parsed from getAllResponseHeaders: case-insensitive, repeated headers kept', async () => {
  const r = await page.evaluate(async (o) => {
    const res = await cometa.get(`${o}/headers`);
    return {
      multi: res.headers.get('X-Multi'),
      custom: res.headers.get('x-custom'),
      has: res.headers.has('X-CUSTOM'),
    };
  }, O);
  assert.deepEqual(r, { multi: 'a, b', custom: 'Value', has: true });
  const parsed = await page.evaluate(() => {
    const h = cometa.parseHeaders('Content-Type: text/plain\r\nX-A: 1\r\nx-a: 2\r\nX-Colon: a: b\r\n');
    return [h.get('content-type'), h.get('X-A'), h.get('x-colon')];
  });
  assert.deepEqual(parsed, ['text/plain', '1, 2', 'a: b']);
});

test('body: string, object as JSON, URLSearchParams, FormData, Blob, ArrayBuffer; Content-Type only where needed', async () => {
  const r = await page.evaluate(async (o) => {
    const send = async (body: unknown, headers?: Record<string, string>) => {
      const res = await cometa.post(`${o}/echo`, body, headers ? { headers } : {});
      const d = res.data as { body: string; headers: Record<string, string> };
      return { body: d.body, type: d.headers['content-type'] };
    };
    const fd = new FormData();
    fd.append('a', '1');
    return {
      string: await send('plain'),
      object: await send({ a: [1, 'x'] }),
      array: await send([1, 2]),
      custom: await send({ a: 1 }, { 'Content-Type': 'application/vnd.x+json' }),
      params: await send(new URLSearchParams({ a: 'b c' })),
      formData: await send(fd),
      blob: await send(new Blob(['blob!'], { type: 'text/x-blob' })),
      buffer: await send(new TextEncoder().encode('bytes').buffer),
    };
  }, O);
  assert.deepEqual(r.string, { body: 'plain', type: 'text/plain;charset=UTF-8' });
  assert.deepEqual(r.object, { body: '{"a":[1,"x"]}', type: 'application/json' });
  assert.deepEqual(r.array, { body: '[1,2]', type: 'application/json' });
  assert.deepEqual(r.custom, { body: '{"a":1}', type: 'application/vnd.x+json' });
  assert.deepEqual(r.params, { body: 'a=b+c', type: 'application/x-www-form-urlencoded;charset=UTF-8' });
  assert.match(r.formData.type ?? '', /^multipart\/form-data; boundary=/);
  assert.match(r.formData.body, /name="a"\r\n\r\n1\r\n/);
  assert.deepEqual(r.blob, { body: 'blob!', type: 'text/x-blob' });
  assert.equal(r.buffer.body, 'bytes');
  assert.equal(r.buffer.type, undefined);
});

test('body: an HTMLFormElement goes urlencoded (CRLF newlines), or multipart with a file input', async () => {
  const r = await page.evaluate(async (o) => {
    const form = document.createElement('form');
    form.innerHTML =
      '<input name="q" value="a b"><textarea name="t"></textarea><input type="checkbox" name="c">' +
      '<input name="d" value="x" disabled>';
    form.querySelector('textarea')!.value = 'line1\nline2';
    document.body.append(form);
    const plain = (await cometa.post(`${o}/echo`, form)).data as {
      body: string;
      headers: Record<string, string>;
    };
    form.insertAdjacentHTML('beforeend', '<input type="file" name="f">');
    const multi = (await cometa.post(`${o}/echo`, form)).data as {
      body: string;
      headers: Record<string, string>;
    };
    form.remove();
    return {
      plain: [plain.body, plain.headers['content-type']],
      multi: [multi.body, multi.headers['content-type']],
    };
  }, O);
  assert.deepEqual(r.plain, ['q=a+b&t=line1%0D%0Aline2', 'application/x-www-form-urlencoded;charset=UTF-8']);
  assert.match(r.multi[1]!, /^multipart\/form-data; boundary=/);
  assert.match(r.multi[0]!, /name="t"\r\n\r\nline1\r\nline2\r\n/);
  assert.match(r.multi[0]!, /name="f"; filename=""/);
});

test('responseType: json, text, blob, arraybuffer, xml; auto by Content-Type', async () => {
  const r = await page.evaluate(async (o) => {
    const json = await cometa.get(`${o}/text?type=text/plain&body=${encodeURIComponent('{"a":1}')}`, {
      responseType: 'json',
    });
    const text = await cometa.get(`${o}/echo`, { responseType: 'text' });
    const blob = await cometa.get(`${o}/large?size=1000`, { responseType: 'blob' });
    const buffer = await cometa.get(`${o}/large?size=777`, { responseType: 'arraybuffer' });
    const xml = await cometa.get(`${o}/xml`, { responseType: 'xml' });
    const autoXml = await cometa.get(`${o}/xml?type=text/xml`);
    const autoText = await cometa.get(`${o}/xml?type=text/plain`);
    const autoPlusJson = await cometa.get(`${o}/text?type=application/problem%2Bjson&body=%5B1%5D`);
    return {
      json: json.data,
      text: typeof text.data,
      blob: [(blob.data as Blob).size, (blob.data as Blob).type],
      buffer: (buffer.data as ArrayBuffer).byteLength,
      xml: (xml.data as Document).documentElement.nodeName,
      xmlIsResponseXML: xml.data === xml.xhr?.responseXML,
      autoXml: (autoXml.data as Document).querySelectorAll('item').length,
      autoText: typeof autoText.data,
      autoPlusJson: autoPlusJson.data,
    };
  }, O);
  assert.deepEqual(r, {
    json: { a: 1 },
    text: 'string',
    blob: [1000, 'application/octet-stream'],
    buffer: 777,
    xml: 'root',
    xmlIsResponseXML: true,
    autoXml: 2,
    autoText: 'string',
    autoPlusJson: [1],
  });
});

test('mimeType: XML served as text/plain parses with overrideMimeType; without it responseType xml fails', async () => {
  const r = await page.evaluate(async (o) => {
    const res = await cometa.get(`${o}/xml?type=text/plain`, { mimeType: 'text/xml', responseType: 'xml' });
    const auto = await cometa.get(`${o}/xml?type=text/plain`, { mimeType: 'application/xml' });
    const failed = await grab(() => cometa.get(`${o}/xml?type=text/plain`, { responseType: 'xml' }));
    const malformed = await grab(() => cometa.get(`${o}/xml?bad=1`, { responseType: 'xml' }));
    return {
      items: (res.data as Document).querySelectorAll('item').length,
      auto: (auto.data as Document).documentElement.nodeName,
      failed: [failed?.code, failed?.data],
      malformed: malformed?.code,
    };
  }, O);
  assert.equal(r.items, 2);
  assert.equal(r.auto, 'root');
  assert.equal(r.failed[0], 'ERR_PARSE');
  assert.match(String(r.failed[1]), /^<\?xml/);
  assert.equal(r.malformed, 'ERR_PARSE');
});

test('ERR_PARSE for invalid JSON; a failed status with an invalid body is ERR_HTTP_STATUS with the raw text', async () => {
  const r = await page.evaluate(async (o) => {
    const bad = await grab(() => cometa.get(`${o}/text?type=application/json&body=nope`));
    const empty = await cometa.get(`${o}/text?type=application/json&body=`, { responseType: 'json' });
    return { bad, empty: empty.data };
  }, O);
  assert.equal(r.bad?.code, 'ERR_PARSE');
  assert.equal(r.bad?.data, 'nope');
  assert.equal(r.bad?.guard, true);
  assert.equal(r.empty, null);
});

test('ERR_HTTP_STATUS carries status, headers and the parsed body; validateStatus decides', async () => {
  const r = await page.evaluate(async (o) => {
    let error: unknown;
    try {
      await cometa.get(`${o}/status?code=404`);
    } catch (e) {
      error = e;
    }
    const ok = await cometa.get(`${o}/status?code=404`, { validateStatus: (s) => s === 404 });
    const strict = await grab(() => cometa.get(`${o}/echo`, { validateStatus: (s) => s === 201 }));
    return {
      http: cometa.isHTTPError(error),
      other: cometa.isTimeoutError(error),
      status: cometa.isHTTPError(error) ? error.status : 0,
      data: cometa.isHTTPError(error) ? error.data : null,
      type: cometa.isHTTPError(error) ? error.headers.get('content-type') : null,
      responseStatus: cometa.isHTTPError(error) ? error.response.status : 0,
      message: (error as Error).message,
      instance: error instanceof cometa.CometaError,
      ok: ok.status,
      strict: [strict?.code, strict?.status],
    };
  }, O);
  assert.deepEqual(r, {
    http: true,
    other: false,
    status: 404,
    data: { error: 'status 404' },
    type: 'application/json',
    responseStatus: 404,
    message: `cometa: HTTP 404 Not Found (GET ${O}/status?code=404)`,
    instance: true,
    ok: 404,
    strict: ['ERR_HTTP_STATUS', 200],
  });
});

test('304 Not Modified is a success (the page sends its own If-None-Match)', async () => {
  const r = await page.evaluate(async (o) => {
    const first = await cometa.get(`${o}/etag`);
    const etag = first.headers.get('etag')!;
    const second = await cometa.get(`${o}/etag`, { headers: { 'If-None-Match': etag } });
    return [first.status, first.data, etag, second.status, second.data];
  }, O);
  assert.deepEqual(r, [200, 'fresh', '"v1"', 304, '']);
});

test('timeout: the XHR timeout event rejects with ERR_TIMEOUT', async () => {
  const r = await page.evaluate(async (o) => {
    const t0 = performance.now();
    const e = await grab(() => cometa.get(`${o}/echo?delay=3000`, { timeout: 150 }));
    return { e, ms: performance.now() - t0 };
  }, O);
  assert.equal(r.e?.code, 'ERR_TIMEOUT');
  assert.equal(r.e?.guard, true);
  assert.match(r.e?.message ?? '', /timeout of 150ms exceeded/);
  assert.ok(r.ms >= 140 && r.ms < 2000, `took ${r.ms} ms`);
});

test('signal: abort() aborts the XHR with ERR_ABORTED; an aborted signal sends nothing', async () => {
  const r = await page.evaluate(async (o) => {
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(new Error('user left')), 100);
    const t0 = performance.now();
    let cause = '';
    const e = await grab(async () => {
      try {
        await cometa.get(`${o}/echo?delay=3000`, { signal: ctrl.signal });
      } catch (err) {
        cause = ((err as Error & { cause: Error }).cause as Error).message;
        throw err;
      }
    });
    const ms = performance.now() - t0;
    const pre = await grab(() => cometa.get(`${o}/echo?key=pre-aborted`, { signal: AbortSignal.abort() }));
    return { code: e?.code, cause, ms, pre: pre?.code };
  }, O);
  assert.deepEqual(
    { code: r.code, cause: r.cause, pre: r.pre },
    { code: 'ERR_ABORTED', cause: 'user left', pre: 'ERR_ABORTED' },
  );
  assert.ok(r.ms < 2000);
  assert.equal(server.hits('pre-aborted').length, 0);
});

test('ERR_NETWORK when nothing answers', async () => {
  const closed = await startAjaxServer();
  const dead = closed.origin;
  await closed.close();
  const e = await page.evaluate((u) => grab(() => cometa.get(`${u}/echo`)), dead);
  assert.equal(e?.code, 'ERR_NETWORK');
  assert.equal(e?.guard, true);
});

test('onDownloadProgress: real progress events with Content-Length (lengthComputable)', async () => {
  const size = 2 * 1024 * 1024;
  const events = await page.evaluate(
    async ({ o, size }) => {
      const seen: Array<{ loaded: number; total: number; lengthComputable: boolean }> = [];
      await cometa.get(`${o}/large?size=${size}`, {
        responseType: 'arraybuffer',
        onDownloadProgress: (p) =>
          seen.push({ loaded: p.loaded, total: p.total, lengthComputable: p.lengthComputable }),
      });
      return seen;
    },
    { o: O, size },
  );
  assert.ok(events.length >= 2, `${events.length} events`);
  assert.ok(events.every((e) => e.lengthComputable && e.total === size));
  assert.equal(events.at(-1)?.loaded, size);
  assert.ok(events[0]!.loaded < size);
});

test('onUploadProgress: real upload progress to a slow sink', async () => {
  const size = 16 * 1024 * 1024;
  const r = await page.evaluate(
    async ({ o, size }) => {
      const seen: Array<{ loaded: number; total: number; lengthComputable: boolean }> = [];
      const res = await cometa.post(`${o}/upload`, new Blob([new Uint8Array(size)]), {
        onUploadProgress: (p) =>
          seen.push({ loaded: p.loaded, total: p.total, lengthComputable: p.lengthComputable }),
      });
      return { seen, received: (res.data as { received: number }).received };
    },
    { o: O, size },
  );
  assert.equal(r.received, size);
  assert.ok(r.seen.length >= 2, `${r.seen.length} events`);
  assert.ok(r.seen.every((e) => e.lengthComputable && e.total === size));
  assert.equal(r.seen.at(-1)?.loaded, size);
});

test('upload listeners only when asked: cross-origin, a preflight happens only with onUploadProgress', async () => {
  await page.evaluate(async (x) => {
    await cometa.post(`${x}/echo?key=no-preflight`, 'text');
    await cometa.post(`${x}/echo?key=preflight`, 'text', { onUploadProgress: () => {} });
  }, server.crossOrigin);
  assert.deepEqual(
    server.hits('no-preflight').map((h) => h.method),
    ['POST'],
  );
  assert.deepEqual(
    server.hits('preflight').map((h) => h.method),
    ['OPTIONS', 'POST'],
  );
});

test('withCredentials: cookies go cross-origin only when asked', async () => {
  const r = await page.evaluate(async (x) => {
    // biome-ignore lint/suspicious/noDocumentCookie: the test needs a plain cookie on the page's host
    document.cookie = 'sid=s3cret; path=/';
    const cookie = async (withCredentials: boolean) =>
      ((await cometa.get(`${x}/echo`, { withCredentials })).data as { headers: Record<string, string> })
        .headers.cookie;
    return { with: await cookie(true), without: (await cookie(false)) ?? null };
  }, server.crossOrigin);
  assert.equal(r.with, 'sid=s3cret');
  assert.equal(r.without, null);
});

test('retry: honours Retry-After (seconds) for GET, counted on the server', async () => {
  const r = await page.evaluate(async (o) => {
    const res = await cometa.get(`${o}/flaky?key=retry-after&fail=1&status=503&retryAfter=1`, { retry: 2 });
    return res.data;
  }, O);
  assert.deepEqual(r, { attempt: 2 });
  const hits = server.hits('retry-after');
  assert.equal(hits.length, 2);
  const gap = hits[1]!.at - hits[0]!.at;
  assert.ok(gap >= 950, `retried after ${gap} ms, Retry-After said 1 s`);
});

test('retry: exponential backoff for 5xx; never for POST; a Retry-After above maxRetryAfter ends it', async () => {
  const r = await page.evaluate(async (o) => {
    const ok = await cometa.get(`${o}/flaky?key=backoff&fail=2&status=500`, {
      retry: { limit: 3, delay: 100 },
    });
    const post = await grab(() => cometa.post(`${o}/flaky?key=post&fail=1&status=503`, 'x', { retry: 3 }));
    const tooLong = await grab(() =>
      cometa.get(`${o}/flaky?key=too-long&fail=1&status=429&retryAfter=120`, {
        retry: { limit: 2, maxRetryAfter: 1000 },
      }),
    );
    const exhausted = await grab(() =>
      cometa.get(`${o}/flaky?key=exhausted&fail=9&status=502`, { retry: { limit: 2, delay: 10 } }),
    );
    return { ok: ok.data, post: post?.status, tooLong: tooLong?.status, exhausted: exhausted?.status };
  }, O);
  assert.deepEqual(r, { ok: { attempt: 3 }, post: 503, tooLong: 429, exhausted: 502 });
  const backoff = server.hits('backoff');
  assert.equal(backoff.length, 3);
  // Jitter keeps 50-100 % of 100 ms, then of 200 ms.
  assert.ok(backoff[1]!.at - backoff[0]!.at >= 45, 'first retry waits >= 50 ms');
  assert.ok(backoff[2]!.at - backoff[1]!.at >= 95, 'second retry waits >= 100 ms');
  assert.equal(server.hits('post').length, 1);
  assert.equal(server.hits('too-long').length, 1);
  assert.equal(server.hits('exhausted').length, 3);
});

test('hooks: beforeRequest, afterResponse, beforeError; create() defaults first', async () => {
  const r = await page.evaluate(async (o) => {
    const order: string[] = [];
    const api = cometa.create({
      baseURL: o,
      hooks: {
        beforeRequest: [
          (c) => {
            order.push('default before');
            c.headers['x-hooked'] = 'yes';
          },
        ],
        afterResponse: [
          (res) => {
            order.push('default after');
            return { ...res, data: { wrapped: res.data } };
          },
        ],
        beforeError: [
          (e) => {
            order.push('default error');
            e.message += ' [seen]';
            return e;
          },
        ],
      },
    });
    const res = await api.get('/echo', {
      hooks: {
        beforeRequest: [
          (c) => {
            order.push('request before');
            return { ...c, url: `${c.url}?from=hook` };
          },
        ],
      },
    });
    const data = res.data as { wrapped: { headers: Record<string, string>; url: string } };
    const e = await grab(() => api.get('/status?code=500'));
    return { order, header: data.wrapped.headers['x-hooked'], url: data.wrapped.url, message: e?.message };
  }, O);
  assert.deepEqual(r.order, [
    'default before',
    'request before',
    'default after',
    'default before',
    'default after',
    'default error',
  ]);
  assert.equal(r.header, 'yes');
  assert.equal(r.url, '/echo?from=hook');
  assert.match(r.message ?? '', /HTTP 500 .* \[seen\]$/);
});

test('shorthands and create(): methods, base URL, nested create()', async () => {
  const r = await page.evaluate(async (o) => {
    const m = async (p: Promise<{ data: unknown }>) => {
      const d = (await p).data as { method: string; body: string; headers: Record<string, string> };
      return `${d.method} ${d.body} ${d.headers['x-a'] ?? ''}${d.headers['x-b'] ?? ''}`;
    };
    const api = cometa.create({ baseURL: `${o}/`, headers: { 'X-A': 'a' } });
    const nested = api.create({ headers: { 'X-B': 'b' } });
    return [
      await m(cometa.get(`${o}/echo`)),
      await m(cometa.post(`${o}/echo`, 'p')),
      await m(cometa.put(`${o}/echo`, 'u')),
      await m(cometa.patch(`${o}/echo`, 'a')),
      await m(cometa.del(`${o}/echo`)),
      await m(api.post('echo', { x: 1 })),
      await m(nested.request('/echo', { method: 'put', body: 'n' })),
    ];
  }, O);
  assert.deepEqual(r, ['GET  ', 'POST p ', 'PUT u ', 'PATCH a ', 'DELETE  ', 'POST {"x":1} a', 'PUT n ab']);
});

test('options are validated once, naming the option (ERR_BAD_OPTION)', async () => {
  const r = await page.evaluate(
    async (o) => [
      await grab(() => cometa.get(`${o}/echo`, { timeout: -1 })),
      await grab(() => cometa.get(`${o}/echo`, { responseType: 'jsonp' as 'json' })),
      await grab(() => cometa.create({ retry: { limit: 'x' as unknown as number } })),
    ],
    O,
  );
  assert.deepEqual(
    r.map((e) => [e?.code, e?.message]),
    [
      ['ERR_BAD_OPTION', 'cometa: option "timeout" must be number >= 0'],
      ['ERR_BAD_OPTION', 'cometa: option "responseType" must be auto|json|text|xml|blob|arraybuffer'],
      ['ERR_BAD_OPTION', 'cometa: option "retry.limit" must be number >= 0'],
    ],
  );
});

test('requestSync on a window: a blocking XHR; timeout and blob refused as XHR refuses them', async () => {
  const r = await page.evaluate(async (o) => {
    const res = cometa.requestSync(`${o}/echo`, { method: 'POST', body: { a: 1 }, query: { s: 1 } });
    const d = res.data as { method: string; body: string; url: string };
    const xml = cometa.requestSync(`${o}/xml?type=text/plain`, { mimeType: 'text/xml' });
    return {
      got: [res.status, d.method, d.body, d.url],
      xml: (xml.data as Document).documentElement.nodeName,
      status: await grab(() => cometa.requestSync(`${o}/status?code=418`)),
      timeout: await grab(() => cometa.requestSync(`${o}/echo`, { timeout: 10 })),
      blob: await grab(() => cometa.requestSync(`${o}/echo`, { responseType: 'blob' })),
      signal: await grab(() => cometa.requestSync(`${o}/echo`, { signal: AbortSignal.abort() } as never)),
    };
  }, O);
  assert.deepEqual(r.got, [200, 'POST', '{"a":1}', '/echo?s=1']);
  assert.equal(r.xml, 'root');
  assert.deepEqual([r.status?.code, r.status?.status], ['ERR_HTTP_STATUS', 418]);
  assert.match(r.timeout?.message ?? '', /"timeout" must be 0 for requestSync on a window/);
  assert.match(r.blob?.message ?? '', /"responseType" must be/);
  assert.equal(r.signal?.code, 'ERR_BAD_OPTION');
});

test('requestSync in a worker: timeout and arraybuffer allowed there', async () => {
  const r = await page.evaluate(async (o) => {
    const src = `importScripts(${JSON.stringify(`${o}/cometa.min.js`)});
      const out = {};
      const bytes = cometa.requestSync(${JSON.stringify(`${o}/large?size=321`)}, { responseType: 'arraybuffer', timeout: 5000 });
      out.bytes = bytes.data.byteLength;
      try { cometa.requestSync(${JSON.stringify(`${o}/echo?delay=2000`)}, { timeout: 100 }); } catch (e) { out.timeout = e.code; }
      postMessage(out);`;
    const worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    const out = await new Promise((resolve) => {
      worker.onmessage = (e) => resolve(e.data);
    });
    worker.terminate();
    return out;
  }, O);
  assert.deepEqual(r, { bytes: 321, timeout: 'ERR_TIMEOUT' });
});

test('guards work across realms: an error from an iframe copy of the bundle', async () => {
  const r = await page.evaluate(async (o) => {
    const frame = document.createElement('iframe');
    frame.src = `${o}/`;
    document.body.append(frame);
    await new Promise((resolve) => frame.addEventListener('load', resolve, { once: true }));
    const win = frame.contentWindow as Window & { cometa?: typeof cometa };
    const script = win.document.createElement('script');
    script.src = `${o}/cometa.min.js`;
    win.document.head.append(script);
    await new Promise((resolve) => script.addEventListener('load', resolve, { once: true }));
    let error: unknown;
    try {
      await win.cometa!.get(`${o}/echo?delay=1000`, { timeout: 50 });
    } catch (e) {
      error = e;
    }
    frame.remove();
    return {
      instanceOf: error instanceof cometa.CometaError,
      guard: cometa.isCometaError(error),
      timeout: cometa.isTimeoutError(error),
      abort: cometa.isAbortError(error),
    };
  }, O);
  assert.deepEqual(r, { instanceOf: false, guard: true, timeout: true, abort: false });
});

test('no uncaught page errors', () => {
  assert.deepEqual(page.errors, []);
});
