/**
 * Cross-origin at the header level: every preflight branch, actual-response CORS headers and
 * `Vary`, credentials never with `*`, Origin checks on state changes, JSONP callback validation,
 * JSONP publish on/off and its errors, image pings (the 43-byte GIF, 204, refusals counted), and the
 * XDomainRequest-style requests (text/plain + ?format=, ?token=, JSON errors).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type Logger, pino } from 'pino';
import { compileOrigins } from '../../src/hub/http/cors.js';
import { PIXEL_GIF } from '../../src/hub/http/ping.js';
import { type HubOptions, OptionsError } from '../../src/hub/index.js';
import { resolveOptions } from '../../src/hub/options.js';
import { startHub, type TestHub } from '../helpers/hub.js';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/** A raw HTTP request (node:http, so Origin and every header are exactly what we set). */
function raw(
  url: string,
  method = 'GET',
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Log lines of a hub, captured through a pino destination. */
function capture(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, dest), lines };
}

async function hubWith(options: HubOptions) {
  const log = capture();
  const t = await startHub({ ...options, logger: log.logger });
  return Object.assign(t, { lines: log.lines });
}

/** Messages stored on a channel (an immediate poll from the start of history). */
async function stored(t: TestHub, channel: string): Promise<Array<{ event: string; data: unknown }>> {
  const r = await raw(`${t.url}/sub/${channel}?mode=poll&last=100`);
  return (JSON.parse(r.text) as { messages: Array<{ event: string; data: unknown }> }).messages;
}

/** The argument of a `/**∕NAME(…);` answer. */
function jsonpArg(text: string, name: string): unknown {
  const prefix = `/**/${name}(`;
  assert.ok(text.startsWith(prefix) && text.endsWith(');'), `not a JSONP answer for ${name}: ${text}`);
  return JSON.parse(text.slice(prefix.length, -2));
}

const CORS_HEADER = /^access-control-/;
const corsNames = (r: Raw) => Object.keys(r.headers).filter((h) => CORS_HEADER.test(h));

const PAGE = 'http://app.example.test';
const EVIL = 'http://evil.example.net';

describe('CORS in public mode (the default)', () => {
  let t: Awaited<ReturnType<typeof hubWith>>;
  before(async () => {
    t = await hubWith({});
  });
  after(() => t.close());

  it('answers an allowed preflight with *, the route methods, the configured headers and Max-Age', async () => {
    const r = await raw(`${t.url}/pub/a`, 'OPTIONS', {
      Origin: EVIL,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type,x-cometa',
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['access-control-allow-methods'], 'GET, POST, DELETE');
    assert.equal(
      r.headers['access-control-allow-headers'],
      'Content-Type, Authorization, Last-Event-ID, X-Requested-With, X-CSRF-Token, X-Cometa, Idempotency-Key',
    );
    assert.equal(r.headers['access-control-max-age'], '86400');
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
    assert.equal(r.headers.vary, 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    assert.equal(r.body.length, 0);
  });

  it('lists only the methods of the route (GET on /sub/, GET and POST on /ping/)', async () => {
    const sub = await raw(`${t.url}/sub/a`, 'OPTIONS', {
      Origin: PAGE,
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'last-event-id',
    });
    assert.equal(sub.headers['access-control-allow-methods'], 'GET');
    const ping = await raw(`${t.url}/ping/a`, 'OPTIONS', {
      Origin: PAGE,
      'Access-Control-Request-Method': 'POST',
    });
    assert.equal(ping.headers['access-control-allow-methods'], 'GET, POST');
  });

  it('refuses a method the route does not have: no CORS headers at all, and a log line', async () => {
    for (const [path, method] of [
      ['/sub/a', 'POST'],
      ['/pub/a', 'PUT'],
      ['/pub/a', 'OPTIONS'],
    ] as const) {
      const before = t.lines.length;
      const r = await raw(`${t.url}${path}`, 'OPTIONS', {
        Origin: PAGE,
        'Access-Control-Request-Method': method,
      });
      assert.equal(r.status, 204);
      assert.deepEqual(corsNames(r), [], `${method} ${path}`);
      const line = t.lines.slice(before).find((l) => l.msg === 'preflight refused');
      assert.ok(line, 'a log line');
      assert.match(String(line.refusal), new RegExp(`method ${method}`));
    }
  });

  it('refuses a request header that is not configured (case-insensitively matching the rest)', async () => {
    const ok = await raw(`${t.url}/pub/a`, 'OPTIONS', {
      Origin: PAGE,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'Content-Type, AUTHORIZATION',
    });
    assert.equal(ok.headers['access-control-allow-origin'], '*');
    const bad = await raw(`${t.url}/pub/a`, 'OPTIONS', {
      Origin: PAGE,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'content-type, x-evil',
    });
    assert.equal(bad.status, 204);
    assert.deepEqual(corsNames(bad), []);
    assert.match(String(t.lines.at(-1)?.refusal), /x-evil/);
  });

  it('refuses a preflight without an Origin', async () => {
    const r = await raw(`${t.url}/pub/a`, 'OPTIONS', { 'Access-Control-Request-Method': 'POST' });
    assert.deepEqual(corsNames(r), []);
  });

  it('answers a plain OPTIONS (no Access-Control-Request-Method) with Allow', async () => {
    const r = await raw(`${t.url}/pub/a`, 'OPTIONS');
    assert.equal(r.status, 204);
    assert.equal(r.headers.allow, 'GET, HEAD, POST, DELETE, OPTIONS');
  });

  it('sends * on every response, with or without Origin, and no Vary (the answer is the same for all)', async () => {
    for (const headers of [{ Origin: EVIL }, {}]) {
      const r = await raw(`${t.url}/pub/a`, 'GET', headers);
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], '*');
      assert.equal(r.headers['access-control-allow-credentials'], undefined);
      assert.equal(r.headers.vary, undefined);
    }
  });

  it('exposes the headers the client reads (Cometa-Id on publish answers)', async () => {
    const r = await raw(`${t.url}/pub/a`, 'POST', { Origin: PAGE, 'Content-Type': 'application/json' }, '1');
    assert.equal(r.status, 202);
    const exposed = String(r.headers['access-control-expose-headers']).split(', ');
    for (const h of ['Cometa-Id', 'Retry-After', 'Allow', 'WWW-Authenticate'])
      assert.ok(exposed.includes(h), h);
    assert.equal(r.headers['cometa-id'], (JSON.parse(r.text) as { id: string }).id);
  });

  it('lets any origin publish in public mode (no list to check against)', async () => {
    const r = await raw(`${t.url}/pub/open`, 'POST', { Origin: EVIL, 'Content-Type': 'text/plain' }, 'x');
    assert.equal(r.status, 202);
  });
});

describe('CORS with listed origins and credentials', () => {
  let t: Awaited<ReturnType<typeof hubWith>>;
  before(async () => {
    t = await hubWith({
      cors: {
        origins: [PAGE, 'https://*.partner.test'],
        credentials: true,
        maxAge: 600,
        allowHeaders: ['Content-Type', 'X-Cometa'],
        exposeHeaders: ['X-Trace'],
      },
    });
  });
  after(() => t.close());

  it('reflects a listed origin in the preflight, with credentials and the configured Max-Age', async () => {
    const r = await raw(`${t.url}/pub/a`, 'OPTIONS', {
      Origin: PAGE,
      'Access-Control-Request-Method': 'DELETE',
      'Access-Control-Request-Headers': 'x-cometa',
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], PAGE);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-allow-headers'], 'Content-Type, X-Cometa');
    assert.equal(r.headers['access-control-max-age'], '600');
  });

  it('refuses an unlisted origin in the preflight: no CORS headers, and says why in the log', async () => {
    const r = await raw(`${t.url}/pub/a`, 'OPTIONS', {
      Origin: EVIL,
      'Access-Control-Request-Method': 'POST',
    });
    assert.equal(r.status, 204);
    assert.deepEqual(corsNames(r), []);
    const line = t.lines.at(-1);
    assert.equal(line?.msg, 'preflight refused');
    assert.equal(line?.origin, EVIL);
    assert.match(String(line?.refusal), /not in cors\.origins/);
  });

  it('refuses a header that the default list has but this config does not', async () => {
    const r = await raw(`${t.url}/pub/a`, 'OPTIONS', {
      Origin: PAGE,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization',
    });
    assert.deepEqual(corsNames(r), []);
  });

  it('matches origin patterns by whole DNS labels, and origins case-insensitively', async () => {
    const cases: Array<[string, boolean]> = [
      ['https://a.partner.test', true],
      ['https://a.b.partner.test', true],
      ['https://A.Partner.TEST', true],
      ['https://partner.test', false],
      ['http://a.partner.test', false],
      ['https://a.partner.test.evil.net', false],
      ['https://a.partner.test:8443', false],
      ['https://evilpartner.test', false],
      ['null', false],
      ['HTTP://APP.EXAMPLE.TEST', true],
    ];
    for (const [origin, ok] of cases) {
      const r = await raw(`${t.url}/pub/a`, 'GET', { Origin: origin });
      assert.equal(r.headers['access-control-allow-origin'], ok ? origin : undefined, origin);
      assert.equal(r.headers['access-control-allow-credentials'], ok ? 'true' : undefined, origin);
      assert.equal(r.headers.vary, 'Origin', origin);
    }
  });

  it('never sends * with credentials, and always Vary: Origin (also without an Origin)', async () => {
    for (const headers of [{ Origin: PAGE }, { Origin: EVIL }, {}]) {
      for (const path of ['/pub/a', '/sub/a?mode=poll', '/healthz', '/nowhere']) {
        const r = await raw(`${t.url}${path}`, 'GET', headers);
        assert.notEqual(r.headers['access-control-allow-origin'], '*', path);
        if (path.startsWith('/pub') || path.startsWith('/sub'))
          assert.match(String(r.headers.vary), /Origin/, `${path} ${JSON.stringify(headers)}`);
      }
    }
  });

  it('exposes cometa headers and the configured extras', async () => {
    const r = await raw(`${t.url}/pub/a`, 'GET', { Origin: PAGE });
    assert.equal(
      r.headers['access-control-expose-headers'],
      'Cometa-Id, Retry-After, Allow, WWW-Authenticate, Idempotent-Replayed, X-Trace',
    );
  });

  it('refuses state changes (POST, DELETE) from an unlisted Origin with 403 and publishes nothing', async () => {
    const post = await raw(
      `${t.url}/pub/guarded`,
      'POST',
      { Origin: EVIL, 'Content-Type': 'text/plain' },
      'x',
    );
    assert.equal(post.status, 403);
    assert.equal((JSON.parse(post.text) as { error: { code: string } }).error.code, 'ERR_ORIGIN_FORBIDDEN');
    assert.equal(post.headers['access-control-allow-origin'], undefined);
    const del = await raw(`${t.url}/pub/guarded`, 'DELETE', { Origin: EVIL });
    assert.equal(del.status, 403);
    assert.deepEqual(await stored(t, 'guarded'), []);
    const ok = await raw(`${t.url}/pub/guarded`, 'POST', { Origin: PAGE, 'Content-Type': 'text/plain' }, 'x');
    assert.equal(ok.status, 202);
    assert.equal(ok.headers['access-control-allow-origin'], PAGE);
  });

  it('refuses a WebSocket upgrade from an unlisted Origin with 403 before any transport runs', async () => {
    const answer = (origin: string) =>
      new Promise<string>((resolve, reject) => {
        const req = request(`${t.url}/sub/a`, {
          headers: {
            Connection: 'Upgrade',
            Upgrade: 'websocket',
            Origin: origin,
            'Sec-WebSocket-Version': '13',
            'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          },
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve(String(res.statusCode));
        });
        req.on('response', (res) => {
          res.resume();
          resolve(String(res.statusCode));
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await answer(EVIL), '403');
    assert.ok(t.lines.some((l) => l.msg === 'websocket origin refused' && l.origin === EVIL));
    assert.equal(await answer(PAGE), '101');
  });
});

describe('options', () => {
  it('refuses credentials with *', () => {
    assert.throws(() => resolveOptions({ cors: { credentials: true } }), /options\.cors\.credentials/);
    assert.throws(
      () => resolveOptions({ cors: { origins: ['*', PAGE], credentials: true } }),
      /options\.cors\.credentials/,
    );
  });

  it('compiles origin patterns: a wildcard port for local development, exact origins untouched', () => {
    const allowed = compileOrigins(resolveOptions({ cors: { origins: ['http://localhost:*', PAGE] } }).cors);
    assert.ok(allowed('http://localhost:5173'));
    assert.ok(!allowed('http://localhost'));
    assert.ok(!allowed('http://localhost.evil.net:80'));
    assert.ok(allowed(PAGE) && !allowed(`${PAGE}:8080`));
    assert.ok(compileOrigins(resolveOptions({}).cors)('null'), '* allows even the opaque origin');
  });

  it('validates options.channels rules, naming the field', () => {
    const bad: Array<[unknown, RegExp]> = [
      ['nope', /options\.channels must be an array/],
      [[null], /options\.channels\[0\] must be an object/],
      [[{ pattern: 'a..b' }], /options\.channels\[0\]\.pattern/],
      [[{ pattern: 'a', publishGET: true }], /options\.channels\[0\]\.publishGET is not a known field/],
      [[{ pattern: 'a' }, { pattern: 'b', ping: 'yes' }], /options\.channels\[1\]\.ping must be a boolean/],
    ];
    for (const [channels, re] of bad) {
      assert.throws(
        () => resolveOptions({ channels } as HubOptions),
        (err: unknown) => err instanceof OptionsError && re.test(err.message),
      );
    }
  });

  it('applies the first matching rule, and defaults where none matches', () => {
    const o = resolveOptions({
      channels: [
        { pattern: 'guest.secret', publishGet: false },
        { pattern: 'guest.*', publishGet: true, ping: true },
      ],
    });
    // Only the cross-origin fields: other engineers add fields (auth) to the same rules.
    const mine = (c: string) => {
      const p = o.channelPolicy(c);
      return { pattern: p.pattern, publishGet: p.publishGet, ping: p.ping };
    };
    assert.deepEqual(mine('guest.secret'), { pattern: 'guest.secret', publishGet: false, ping: false });
    assert.deepEqual(mine('guest.book'), { pattern: 'guest.*', publishGet: true, ping: true });
    assert.deepEqual(mine('other'), { pattern: null, publishGet: false, ping: false });
    assert.ok(Object.isFrozen(o.channelPolicy('guest.book')));
  });
});

describe('JSONP', () => {
  let t: Awaited<ReturnType<typeof hubWith>>;
  before(async () => {
    t = await hubWith({
      cors: { origins: [PAGE] },
      channels: [
        { pattern: 'guest.secret', publishGet: false },
        { pattern: 'guest.*', publishGet: true },
      ],
    });
  });
  after(() => t.close());

  const BAD = [
    'alert(1)//',
    'a b',
    'x<script>',
    '1abc',
    'a..b',
    'a.',
    '.a',
    'a-b',
    "a['b']",
    'a\u2028b',
    '',
    'a'.repeat(129),
  ];

  it('refuses every bad callback name with a JSON 400 that never contains the name', async () => {
    for (const path of ['/sub/a', '/pub/guest.book', '/pub/other']) {
      for (const name of BAD) {
        const r = await raw(`${t.url}${path}?data=x&callback=${encodeURIComponent(name)}`);
        assert.equal(r.status, 400, `${path} ${JSON.stringify(name)}`);
        assert.match(String(r.headers['content-type']), /^application\/json/);
        assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, 'ERR_BAD_CALLBACK');
        if (name.length > 2) assert.ok(!r.text.includes(name), `echoed ${name}`);
      }
    }
    assert.deepEqual(await stored(t, 'guest.book'), []);
  });

  it('accepts an identifier path of 128 characters', async () => {
    const name = `$a._b.c1${'x'.repeat(120)}`;
    assert.equal(name.length, 128);
    const r = await raw(`${t.url}/sub/a?mode=poll&callback=${name}`);
    assert.equal(r.status, 200);
    assert.deepEqual(jsonpArg(r.text, name), {
      messages: [],
      cursor: (jsonpArg(r.text, name) as { cursor: string }).cursor,
    });
  });

  it('publishes with GET on a publishGet channel: script answer with the id, as the message', async () => {
    const r = await raw(
      `${t.url}/pub/guest.book?callback=cb.done&data=${encodeURIComponent('hi <there>')}&event=note`,
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/javascript; charset=utf-8');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['cache-control'], 'no-store');
    const arg = jsonpArg(r.text, 'cb.done') as { id: string; channel: string };
    assert.equal(arg.channel, 'guest.book');
    assert.equal(r.headers['cometa-id'], arg.id);
    const [m] = await stored(t, 'guest.book');
    assert.deepEqual(m && { event: m.event, data: m.data }, { event: 'note', data: 'hi <there>' });
  });

  it('parses ?data= as JSON or form fields with ?format=', async () => {
    await raw(`${t.url}/pub/guest.json?callback=cb&format=json&data=${encodeURIComponent('{"n":[1,2]}')}`);
    await raw(`${t.url}/pub/guest.form?callback=cb&format=form&data=${encodeURIComponent('a=1&a=2&b=x')}`);
    assert.deepEqual((await stored(t, 'guest.json'))[0]?.data, { n: [1, 2] });
    assert.deepEqual((await stored(t, 'guest.form'))[0]?.data, { a: ['1', '2'], b: 'x' });
  });

  it('answers refusals to a valid callback as script calling it with {error} (status 200, so it runs)', async () => {
    const cases: Array<[string, Record<string, string>, string, number]> = [
      ['/pub/other?callback=cb&data=x', {}, 'ERR_PUBLISH_DISABLED', 403],
      ['/pub/guest.secret?callback=cb&data=x', {}, 'ERR_PUBLISH_DISABLED', 403],
      ['/pub/guest.book?callback=cb', {}, 'ERR_BAD_PARAM', 400],
      ['/pub/guest.book?callback=cb&data=x&event=open', {}, 'ERR_BAD_EVENT', 400],
      ['/pub/guest.book?callback=cb&data=%7B&format=json', {}, 'ERR_BAD_BODY', 400],
      ['/pub/guest.book?callback=cb&data=x', { Origin: EVIL }, 'ERR_ORIGIN_FORBIDDEN', 403],
      ['/sub/a?callback=cb&since=nope', {}, 'ERR_BAD_CURSOR', 400],
      ['/sub/bad..name?callback=cb', {}, 'ERR_BAD_CHANNEL', 400],
    ];
    const before = (await stored(t, 'guest.book')).length;
    for (const [path, headers, code, status] of cases) {
      const r = await raw(`${t.url}${path}`, 'GET', headers);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], 'application/javascript; charset=utf-8');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      const arg = jsonpArg(r.text, 'cb') as { error: { code: string; message: string; status: number } };
      assert.equal(arg.error.code, code, path);
      assert.equal(arg.error.status, status, path);
      assert.ok(arg.error.message.length > 10);
    }
    assert.equal((await stored(t, 'guest.secret')).length, 0);
    assert.equal((await stored(t, 'other')).length, 0);
    assert.equal((await stored(t, 'guest.book')).length, before);
  });

  it('keeps GET /pub/{channel} without a callback as the channel info', async () => {
    const r = await raw(`${t.url}/pub/guest.book?data=x`);
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.text) as { channel: string }).channel, 'guest.book');
  });
});

describe('image ping', () => {
  let t: Awaited<ReturnType<typeof hubWith>>;
  const IMG_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
  before(async () => {
    t = await hubWith({
      cors: { origins: [PAGE] },
      channels: [{ pattern: 'clicks.**', ping: true }],
    });
  });
  after(() => t.close());

  it('the pixel is a well-formed 43-byte transparent GIF', () => {
    assert.equal(PIXEL_GIF.length, 43);
    assert.equal(PIXEL_GIF.subarray(0, 6).toString('latin1'), 'GIF89a');
    assert.equal(PIXEL_GIF.readUInt16LE(6), 1);
    assert.equal(PIXEL_GIF.readUInt16LE(8), 1);
    assert.equal(PIXEL_GIF.at(-1), 0x3b);
  });

  it('publishes the query as an object (repeated keys as arrays) and answers the GIF to an image request', async () => {
    const r = await raw(`${t.url}/ping/clicks.home?button=buy&tag=a&tag=b&empty=`, 'GET', {
      Accept: IMG_ACCEPT,
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'image/gif');
    assert.equal(r.headers['content-length'], '43');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.ok(r.body.equals(PIXEL_GIF));
    const [m] = await stored(t, 'clicks.home');
    assert.deepEqual(m?.data, { button: 'buy', tag: ['a', 'b'], empty: '' });
    assert.equal(m?.event, 'message');
  });

  it('answers 204 with no body when the request does not take images', async () => {
    const r = await raw(`${t.url}/ping/clicks.other?x=1`, 'GET', { Accept: '*/*' });
    assert.equal(r.status, 204);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.deepEqual((await stored(t, 'clicks.other'))[0]?.data, { x: '1' });
  });

  it('takes a beacon POST: urlencoded fields merged after the query', async () => {
    const r = await raw(
      `${t.url}/ping/clicks.beacon?a=1`,
      'POST',
      { Origin: PAGE, 'Content-Type': 'application/x-www-form-urlencoded' },
      'a=2&b=3',
    );
    assert.equal(r.status, 204);
    assert.deepEqual((await stored(t, 'clicks.beacon'))[0]?.data, { a: ['1', '2'], b: '3' });
  });

  it('refuses silently (same answer), counts and logs: no policy, bad channel, unlisted Origin, bad body', async () => {
    const base = t.hub.core.stats.pingsRefused;
    const refused: Array<[string, string, Record<string, string>, string?]> = [
      ['/ping/secret?x=1', 'GET', { Accept: IMG_ACCEPT }],
      ['/ping/bad..name?x=1', 'GET', { Accept: IMG_ACCEPT }],
      ['/ping/clicks.evil?x=1', 'GET', { Accept: IMG_ACCEPT, Origin: EVIL }],
      ['/ping/clicks.evil', 'POST', { Origin: EVIL, 'Content-Type': 'text/plain' }, 'x=1'],
      ['/ping/clicks.body', 'POST', { 'Content-Type': 'text/plain' }, 'just text'],
    ];
    for (const [path, method, headers, body] of refused) {
      const r = await raw(`${t.url}${path}`, method, headers, body);
      if (headers.Accept === IMG_ACCEPT) {
        assert.equal(r.status, 200, path);
        assert.ok(r.body.equals(PIXEL_GIF), path);
      } else assert.equal(r.status, 204, path);
    }
    assert.equal(t.hub.core.stats.pingsRefused, base + refused.length);
    assert.equal(t.lines.filter((l) => l.msg === 'ping refused').length, refused.length);
    assert.ok(t.lines.some((l) => l.msg === 'ping refused' && /origin/.test(String(l.reason))));
    for (const ch of ['secret', 'clicks.evil', 'clicks.body']) assert.deepEqual(await stored(t, ch), [], ch);
  });
});

describe('XDomainRequest-style requests', () => {
  let t: Awaited<ReturnType<typeof hubWith>>;
  before(async () => {
    t = await hubWith({ cors: { origins: [PAGE] } });
  });
  after(() => t.close());

  it('publishes a text/plain body as JSON or form with ?format=, with ?token= accepted', async () => {
    for (const [format, body, data] of [
      ['json', '{"a":[1,{"b":null}]}', { a: [1, { b: null }] }],
      ['form', 'x=1&x=2&y=%C3%A9', { x: ['1', '2'], y: 'é' }],
    ] as const) {
      const r = await raw(
        `${t.url}/pub/xdr.${format}?format=${format}&token=opaque.jwt.value`,
        'POST',
        { Origin: PAGE, 'Content-Type': 'text/plain;charset=UTF-8' },
        body,
      );
      assert.equal(r.status, 202);
      assert.equal(r.headers['access-control-allow-origin'], PAGE);
      assert.deepEqual((await stored(t, `xdr.${format}`))[0]?.data, data);
    }
  });

  it('takes a body with no Content-Type at all (IE 8/9 XDR sent none)', async () => {
    const r = await raw(`${t.url}/pub/xdr.none?format=json`, 'POST', { Origin: PAGE }, '[1]');
    assert.equal(r.status, 202);
    assert.deepEqual((await stored(t, 'xdr.none'))[0]?.data, [1]);
  });

  it('answers errors as JSON bodies readable without the status, with the CORS headers', async () => {
    const r = await raw(
      `${t.url}/pub/xdr.bad?format=json`,
      'POST',
      { Origin: PAGE, 'Content-Type': 'text/plain' },
      '{',
    );
    assert.equal(r.status, 400);
    assert.equal(r.headers['access-control-allow-origin'], PAGE);
    const body = JSON.parse(r.text) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'ERR_BAD_BODY');
    const f = await raw(
      `${t.url}/pub/xdr.bad?format=yaml`,
      'POST',
      { Origin: PAGE, 'Content-Type': 'text/plain' },
      'x',
    );
    assert.equal((JSON.parse(f.text) as { error: { code: string } }).error.code, 'ERR_BAD_PARAM');
  });
});
