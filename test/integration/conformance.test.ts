/**
 * Every answer the hub writes, judged by a strict HTTP/1.1 implementation that is not ours: h11
 * (Debian's python3-h11, /usr/bin/python3; scripts/system-deps.sh installs it) parses the bytes
 * of each answer (test/helpers/h11.ts), and the rules of RFC 9110/9112/6455 that a parser cannot
 * see are checked here on what it parsed. Every route, every method (HEAD, OPTIONS, unknown ones),
 * HTTP/1.0, conditional requests, Expect, absolute-form and asterisk-form targets, duplicate
 * headers, streams and SSE heads, WebSocket handshakes and their refusals
 * (test/helpers/conformance-cases.ts); against a hub with the fast lane (publishes and polls it
 * answers itself) and one without (Node's path).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cachedFiles } from '../../src/hub/http/static.js';
import type { HubOptions } from '../../src/hub/index.js';
import { ACCEPT, authCases, cases, demoCases, ORIGIN_OK } from '../helpers/conformance-cases.js';
import { type Case, header, type Judged, judge, one } from '../helpers/h11.js';
import { publish, startHub, type TestHub } from '../helpers/hub.js';

/** The rules every answer must follow, beyond what h11 parses. */
function checkAnswer(c: Case, r: Judged): void {
  const context = `${c.id}: ${JSON.stringify(r)}`;
  assert.equal(r.error, null, `h11 refused the answer to ${context}`);
  const final = r.answers.at(-1);
  assert.ok(final !== undefined, `no answer to ${context}`);
  const expected = Array.isArray(c.status) ? c.status : [c.status];
  assert.ok(
    expected.includes(final.status),
    `${c.id}: status ${final.status}, expected ${expected}; ${context}`,
  );
  for (const a of r.answers) {
    const s = a.status;
    // RFC 9110 §8.6, §6.4.1: no Content-Length or body on 1xx and 204; 304 has no body.
    if (s < 200 || s === 204)
      assert.equal(one(a, 'content-length'), undefined, `Content-Length on ${s}: ${context}`);
    if (s < 200 || s === 204 || s === 304)
      assert.equal(one(a, 'transfer-encoding'), undefined, `Transfer-Encoding on ${s}: ${context}`);
    if (s === 304) assert.ok(one(a, 'content-length') === undefined, `Content-Length on 304: ${context}`);
    // RFC 9110 §6.6.1: an origin server with a clock sends Date on 2xx, 3xx and 4xx.
    if (s >= 200 && s < 500) assert.equal(header(a, 'date').length, 1, `Date on ${s}: ${context}`);
    // RFC 9110 §15.5.6: a 405 lists the allowed methods.
    if (s === 405) assert.ok(one(a, 'allow'), `Allow on 405: ${context}`);
    // RFC 9110 §11.6.1: a 401 carries a challenge.
    if (s === 401) assert.ok(one(a, 'www-authenticate'), `WWW-Authenticate on 401: ${context}`);
    // RFC 9110 §15.5.22: a 426 says what to upgrade to.
    if (s === 426) assert.ok(one(a, 'upgrade'), `Upgrade on 426: ${context}`);
    // Singleton fields appear once.
    for (const name of ['content-length', 'content-type', 'date', 'etag', 'allow', 'location'])
      assert.ok(header(a, name).length <= 1, `${name} twice: ${context}`);
    // RFC 9112 §6.1: no chunked answer to an HTTP/1.0 request.
    if (/^[A-Z]+ \S+ HTTP\/1\.0\r\n/.test(c.raw))
      assert.equal(one(a, 'transfer-encoding'), undefined, `chunked to HTTP/1.0: ${context}`);
  }
  if (c.method === 'HEAD') assert.equal(r.body, '', `a body on HEAD: ${context}`);
  if (final.status === 101) {
    // RFC 6455 §4.2.2.
    assert.ok(r.switched, context);
    assert.match(one(final, 'upgrade') ?? '', /^websocket$/i, context);
    assert.match(one(final, 'connection') ?? '', /\bupgrade\b/i, context);
    assert.equal(one(final, 'sec-websocket-accept'), ACCEPT, context);
  } else if ((c.mode ?? 'full') === 'full') {
    assert.equal(r.extra, '', `bytes after the answer: ${context}`);
  }
  // A cometa error is JSON with a stable code (HEAD and 1xx/204/304 carry none).
  const type = one(final, 'content-type') ?? '';
  if (final.status >= 400 && c.method !== 'HEAD' && type.startsWith('application/json')) {
    const body = JSON.parse(r.body) as { error?: { code?: unknown; message?: unknown } };
    assert.equal(typeof body.error?.code, 'string', context);
    assert.equal(typeof body.error?.message, 'string', context);
  }
  c.check?.(r);
}

/** Every rule a case's answer breaks, one line each (all of them, not only the first). */
function failures(all: Case[], results: Judged[]): string[] {
  const out: string[] = [];
  for (const [i, c] of all.entries()) {
    try {
      checkAnswer(c, results[i]!);
    } catch (err) {
      out.push(`${c.id}: ${(err as Error).message.split('\n')[0]!.slice(0, 600)}`);
    }
  }
  return out;
}

const options: HubOptions = {
  limits: { maxBodyBytes: 4096, maxHeaderBytes: 8192 },
  cors: { origins: [ORIGIN_OK] },
  channels: [{ pattern: 'c.**', publishGet: true, ping: true, presence: true }],
};

for (const [name, extra] of [
  ['the fast lane', {}],
  ["Node's path", { fastPublish: false, fastPoll: false }],
] as const) {
  describe(`HTTP conformance, judged by h11: ${name}`, () => {
    let t: TestHub;
    let etag = '';
    before(async () => {
      t = await startHub({ ...options, ...extra });
      await publish(t.url, 'c.a', 'seed');
      etag = (await fetch(`${t.url}/cometa.js`)).headers.get('etag') ?? '';
      assert.ok(etag !== '', 'the client bundle is built (node scripts/build.mjs)');
    });
    after(() => t.close());

    it('every route, method and request form gets a well-formed answer', async () => {
      const all = cases(etag);
      const results = await judge(t.port, all);
      assert.deepEqual(failures(all, results), []);
    });
  });
}

describe('HTTP conformance, judged by h11: refusals for credentials', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ auth: { key: 'conformance-secret-that-is-long-enough-for-hs256' } });
  });
  after(() => t.close());

  it('401 answers are well-formed and carry a challenge', async () => {
    const all = authCases();
    const results = await judge(t.port, all);
    assert.deepEqual(failures(all, results), []);
  });
});

describe('HTTP conformance, judged by h11: the demo pages and routes', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ demo: true });
  });
  after(() => t.close());

  it('answers every method well-formed; missing files are 404 and never remembered', async () => {
    const all = demoCases();
    const results = await judge(t.port, all);
    assert.deepEqual(failures(all, results), []);
    const before = cachedFiles();
    for (let i = 0; i < 200; i++) assert.equal((await fetch(`${t.url}/missing-${i}.js`)).status, 404);
    assert.equal(cachedFiles(), before);
  });
});
