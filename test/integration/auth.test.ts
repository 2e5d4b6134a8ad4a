/**
 * Channel auth (JWT via jose), CSRF defences, limits (connections, publish rate, header size,
 * malformed requests) against a real hub on 127.0.0.1, over real sockets.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import WebSocket from 'ws';
import { Buckets, MAX_BUCKETS } from '../../src/hub/http/limits.js';
import { createHub } from '../../src/hub/index.js';
import { OptionsError } from '../../src/hub/options.js';
import { type SseEvent, SseParser } from '../../src/protocol/framing.js';
import { sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';

const SECRET = 'test-secret-that-is-long-enough-for-hs256!';
const secretKey = new TextEncoder().encode(SECRET);

async function hs(payload: JWTPayload, opts: { exp?: string | number; iss?: string; aud?: string } = {}) {
  const j = new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.exp !== undefined) j.setExpirationTime(opts.exp);
  if (opts.iss) j.setIssuer(opts.iss);
  if (opts.aud) j.setAudience(opts.aud);
  return j.sign(secretKey);
}

const grants = (subscribe: string[], publish: string[] = []) => ({ cometa: { subscribe, publish } });

interface Answer {
  status: number;
  headers: Headers;
  body: { error?: { code: string; message: string } } & Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Answer['body'] = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { text } as Answer['body'];
  }
  return { status: res.status, headers: res.headers, body };
}

/** Opens an SSE stream and collects its events; `close()` aborts it. */
function sse(url: string, headers: Record<string, string> = {}) {
  const events: SseEvent[] = [];
  const ac = new AbortController();
  let status = 0;
  let ended = false;
  const done = (async () => {
    const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
    status = res.status;
    if (!res.body) return;
    const parser = new SseParser((e) => events.push(e));
    const dec = new TextDecoder();
    try {
      for await (const chunk of res.body) parser.push(dec.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      // aborted
    }
    ended = true;
  })().catch(() => {});
  return {
    events,
    status: () => status,
    ended: () => ended,
    close: () => ac.abort(),
    done,
  };
}

describe('JWT channel auth (HS256 secret)', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({
      auth: { key: SECRET, issuer: 'https://app.example', audience: 'cometa', clockTolerance: 0 },
      channels: [
        { pattern: 'news.**', subscribe: 'public' },
        { pattern: 'guest.*', subscribe: 'public', publish: 'public' },
        { pattern: 'img.*', ping: true },
        { pattern: 'jp.*', publishGet: true },
      ],
      cors: { origins: ['https://app.example'], credentials: true },
      limits: { publishRatePerIp: 0, publishRatePerToken: 0 },
    });
  });
  after(() => t.close());
  const tok = (p: JWTPayload, exp: string | number = '1h') =>
    hs(p, { exp, iss: 'https://app.example', aud: 'cometa' });

  it('needs a token for non-public channels: 401 with WWW-Authenticate Bearer realm', async () => {
    const r = await call(`${t.url}/sub/scores.nba?mode=poll`);
    assert.equal(r.status, 401);
    assert.equal(r.body.error?.code, 'ERR_UNAUTHORIZED');
    assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="cometa"');
  });

  it('grants channel patterns: * one segment, ** any number, per action', async () => {
    const token = await tok(grants(['scores.*', 'chat.**'], ['chat.room1']));
    const h = { authorization: `Bearer ${token}` };
    assert.equal((await call(`${t.url}/sub/scores.nba?mode=poll`, { headers: h })).status, 200);
    assert.equal((await call(`${t.url}/sub/chat.a.b.c?mode=poll`, { headers: h })).status, 200);
    assert.equal((await call(`${t.url}/sub/chat?mode=poll`, { headers: h })).status, 200);
    const deep = await call(`${t.url}/sub/scores.nba.live?mode=poll`, { headers: h });
    assert.equal(deep.status, 403);
    assert.equal(deep.body.error?.code, 'ERR_FORBIDDEN');
    // One refused channel refuses the whole subscription.
    assert.equal((await call(`${t.url}/sub/scores.nba,secret.x?mode=poll`, { headers: h })).status, 403);
    const pub = await call(`${t.url}/pub/chat.room1`, { method: 'POST', headers: h, body: 'hi' });
    assert.equal(pub.status, 202);
    const pub2 = await call(`${t.url}/pub/chat.room2`, { method: 'POST', headers: h, body: 'hi' });
    assert.equal(pub2.status, 403);
    // Subscribe grants do not grant publish, nor deleting history.
    assert.equal(
      (await call(`${t.url}/pub/scores.nba`, { method: 'POST', headers: h, body: 'x' })).status,
      403,
    );
    assert.equal((await call(`${t.url}/pub/scores.nba`, { method: 'DELETE', headers: h })).status, 403);
    // Channel info needs the subscribe grant.
    assert.equal((await call(`${t.url}/pub/scores.nba`, { headers: h })).status, 200);
    assert.equal((await call(`${t.url}/pub/other.x`, { headers: h })).status, 403);
  });

  it('refuses invalid, expired, wrongly issued and unsigned tokens with invalid_token', async () => {
    const cases: Array<[string, string]> = [
      ['garbage', 'not a compact JWS'],
      [`${(await tok(grants(['**']))).slice(0, -3)}AAA`, 'signature'],
      [await tok(grants(['**']), Math.floor(Date.now() / 1000) - 5), 'expired'],
      [await hs(grants(['**']), { exp: '1h', iss: 'https://evil.example', aud: 'cometa' }), 'iss claim'],
      [await hs(grants(['**']), { exp: '1h', iss: 'https://app.example', aud: 'other' }), 'aud claim'],
      // alg none: header {"alg":"none"}, no signature.
      [
        `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...grants(['**']), iss: 'https://app.example', aud: 'cometa' })).toString('base64url')}.`,
        'algorithm',
      ],
      [await tok({ cometa: { subscribe: 'scores.*' } }), 'cometa.subscribe'],
      [await tok({ cometa: { subscribe: ['bad..pattern'] } }), 'cometa.subscribe'],
      // No exp: valid forever, unless options.auth.requireExp is false.
      [await hs(grants(['**']), { iss: 'https://app.example', aud: 'cometa' }), 'no expiry'],
    ];
    for (const [token, why] of cases) {
      const r = await call(`${t.url}/sub/scores.nba?mode=poll`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(r.status, 401, why);
      assert.equal(r.body.error?.code, 'ERR_UNAUTHORIZED');
      const www = r.headers.get('www-authenticate') ?? '';
      assert.match(www, /^Bearer realm="cometa", error="invalid_token", error_description="[^"\r\n]*"$/);
      assert.ok(www.includes(why), `${why} in ${www}`);
      assert.ok(!www.includes(token), 'the token is never echoed');
    }
  });

  it('takes the token from ?token= and from the cookie (EventSource cannot set headers)', async () => {
    const token = await tok(grants(['scores.*']));
    assert.equal((await call(`${t.url}/sub/scores.a?mode=poll&token=${token}`)).status, 200);
    assert.equal(
      (await call(`${t.url}/sub/scores.a?mode=poll`, { headers: { cookie: `x=1; cometa_token=${token}` } }))
        .status,
      200,
    );
    const s = sse(`${t.url}/sub/scores.a?token=${token}`);
    await waitFor(() => s.events.length > 0, 5000, 'open');
    assert.equal(s.status(), 200);
    assert.equal(s.events[0]!.event, 'cometa.open');
    s.close();
  });

  it('public channels need no token; a bad token on a public-only subscription is ignored', async () => {
    assert.equal((await call(`${t.url}/sub/news.world.eu?mode=poll`)).status, 200);
    assert.equal(
      (await call(`${t.url}/sub/news.x?mode=poll`, { headers: { cookie: 'cometa_token=stale' } })).status,
      200,
    );
    // public subscribe does not make publish public
    assert.equal((await call(`${t.url}/pub/news.x`, { method: 'POST', body: 'x' })).status, 401);
    assert.equal((await call(`${t.url}/pub/guest.book`, { method: 'POST', body: 'x' })).status, 202);
  });

  it('refuses JSONP authenticated by cookie (any page could read it), accepts ?token=', async () => {
    const token = await tok(grants(['scores.*']));
    const r = await call(`${t.url}/sub/scores.a?callback=cb&mode=poll`, {
      headers: { cookie: `cometa_token=${token}` },
    });
    assert.equal(r.status, 200); // JSONP errors are script calling the callback...
    const text = String(r.body.text ?? '');
    assert.match(text, /ERR_FORBIDDEN/);
    const ok = await fetch(`${t.url}/sub/scores.a?callback=cb&mode=poll&token=${token}`);
    assert.match(await ok.text(), /^\/\*\*\/cb\(\{"messages":/);
  });

  it('ends an SSE stream with close reason auth when its token expires (one sweep, no timer)', async () => {
    // exp is whole seconds: ceil keeps at least a full second before expiry (floor + 1 can be 1 ms).
    const token = await tok(grants(['scores.*']), Math.ceil(Date.now() / 1000) + 1);
    const s = sse(`${t.url}/sub/scores.exp?token=${token}`);
    await waitFor(() => s.events.length > 0, 5000, 'open');
    await waitFor(() => s.ended(), 6000, 'stream end at expiry');
    const last = s.events.at(-1)!;
    assert.equal(last.event, 'close');
    assert.equal(JSON.parse(last.data).reason, 'auth');
    assert.ok(t.hub.core.stats.authExpired >= 1);
  });

  it('answers a held long-poll when its token expires (the next poll gets 401)', async () => {
    const token = await tok(grants(['scores.*']), Math.ceil(Date.now() / 1000) + 1);
    const started = Date.now();
    const r = await call(`${t.url}/sub/scores.lp?timeout=20&token=${token}`);
    assert.equal(r.status, 200);
    assert.ok(Date.now() - started < 5000, 'answered at expiry, not at the timeout');
    const again = await call(`${t.url}/sub/scores.lp?timeout=20&token=${token}`);
    assert.equal(again.status, 401);
  });

  it('checks WebSocket tokens at upgrade, at every subscribe/publish frame, and closes 4001 at expiry', async () => {
    const wsUrl = t.url.replace('http', 'ws');
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${wsUrl}/sub/scores.nba`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    assert.equal(refused, 401);
    const token = await tok(grants(['scores.*'], ['chat.room1']), Math.floor(Date.now() / 1000) + 3);
    const ws = new WebSocket(`${wsUrl}/sub/scores.nba`, { headers: { authorization: `Bearer ${token}` } });
    const frames: Array<Record<string, unknown>> = [];
    ws.on('message', (d) => frames.push(JSON.parse(String(d))));
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'subscribe', id: 1, channels: ['secret.x'] }));
    ws.send(JSON.stringify({ type: 'subscribe', id: 2, channels: ['scores.nhl'] }));
    ws.send(JSON.stringify({ type: 'publish', id: 3, channel: 'scores.nba', data: 1 }));
    ws.send(JSON.stringify({ type: 'publish', id: 4, channel: 'chat.room1', data: 1 }));
    await waitFor(() => frames.filter((f) => f.id !== undefined).length >= 4, 5000, 'four answers');
    const by = (id: number) => frames.find((f) => f.id === id)!;
    assert.equal((by(1).error as { code: string }).code, 'ERR_FORBIDDEN');
    assert.equal(by(2).type, 'ack');
    assert.equal((by(3).error as { code: string }).code, 'ERR_FORBIDDEN');
    assert.equal(by(4).type, 'ack');
    assert.equal(await closed, 4001);
    const last = frames.at(-1)!;
    assert.equal(last.event, 'close');
    assert.equal(last.reason, 'auth');
  });

  it('refuses a cookie-authenticated WebSocket from a foreign Origin (cross-site WebSocket hijacking)', async () => {
    const token = await tok(grants(['scores.*']));
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${t.url.replace('http', 'ws')}/sub/scores.nba`, {
        headers: { cookie: `cometa_token=${token}` },
        origin: 'https://evil.example',
      });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        resolve(101);
        ws.close();
      });
      ws.on('error', () => {});
    });
    assert.equal(status, 403);
  });

  describe('CSRF with cookie auth', () => {
    const origin = 'https://app.example';
    let cookie = '';
    let csrfCookieToken = '';
    before(async () => {
      cookie = `cometa_token=${await tok(grants([], ['chat.*']))}`;
      csrfCookieToken = `cometa_token=${await tok({ ...grants([], ['chat.*']), csrf: 'k3y-0f-the-session' })}`;
    });
    const post = (headers: Record<string, string>, body: BodyInit = '{"a":1}', method = 'POST') =>
      call(`${t.url}/pub/chat.room1`, { method, headers, body: method === 'DELETE' ? null : body });

    it('refuses a plain cross-site form POST (cookie, no Origin or foreign Origin, no custom header)', async () => {
      const form = { 'content-type': 'application/x-www-form-urlencoded', cookie };
      for (const h of [form, { ...form, origin: 'https://evil.example' }, { ...form, origin: 'null' }]) {
        const r = await post(h, 'a=1');
        assert.equal(r.status, 403);
        // A foreign Origin is already refused by the CORS origin check; no Origin by CSRF.
        assert.ok(
          ['ERR_CSRF', 'ERR_ORIGIN_FORBIDDEN'].includes(String(r.body.error?.code)),
          String(r.body.error?.code),
        );
      }
    });

    it('refuses an allowed Origin alone (POST alone, a cookie alone and Origin alone do not prove intent)', async () => {
      const r = await post({ cookie, origin });
      assert.equal(r.body.error?.code, 'ERR_CSRF');
      // A Referer from the right page proves nothing either (and is not consulted).
      const r2 = await post({ cookie, referer: `${origin}/page` });
      assert.equal(r2.body.error?.code, 'ERR_CSRF');
    });

    it('accepts an allowed Origin with X-Cometa: 1 or X-Requested-With', async () => {
      assert.equal((await post({ cookie, origin, 'x-cometa': '1' })).status, 202);
      assert.equal((await post({ cookie, origin, 'x-requested-with': 'XMLHttpRequest' })).status, 202);
      assert.equal((await post({ cookie, origin: 'https://evil.example', 'x-cometa': '1' })).status, 403);
    });

    it('accepts X-CSRF-Token equal to the token csrf claim, or to the csrf cookie (double submit)', async () => {
      const ok = await post({ cookie: csrfCookieToken, origin, 'x-csrf-token': 'k3y-0f-the-session' });
      assert.equal(ok.status, 202);
      const bad = await post({ cookie: csrfCookieToken, origin, 'x-csrf-token': 'guess' });
      assert.equal(bad.body.error?.code, 'ERR_CSRF');
      // With a csrf claim, a forged double-submit cookie does not help.
      const forged = await post({
        cookie: `${csrfCookieToken}; cometa_csrf=guess`,
        origin,
        'x-csrf-token': 'guess',
      });
      assert.equal(forged.body.error?.code, 'ERR_CSRF');
      const dbl = await post({ cookie: `${cookie}; cometa_csrf=r4nd0m`, origin, 'x-csrf-token': 'r4nd0m' });
      assert.equal(dbl.status, 202);
    });

    it('applies to DELETE, and refuses a cookie-authenticated GET that publishes', async () => {
      assert.equal((await post({ cookie, origin }, '', 'DELETE')).body.error?.code, 'ERR_CSRF');
      assert.equal((await post({ cookie, origin, 'x-cometa': '1' }, '', 'DELETE')).status, 200);
      const token = await tok(grants([], ['jp.*']));
      const get = await fetch(`${t.url}/pub/jp.x?callback=cb&data=hi`, {
        headers: { cookie: `cometa_token=${token}` },
      });
      assert.match(await get.text(), /ERR_CSRF/);
      const withQuery = await fetch(`${t.url}/pub/jp.x?callback=cb&data=hi&token=${token}`);
      assert.match(await withQuery.text(), /^\/\*\*\/cb\(\{"id":/);
    });

    it('does not apply to Bearer tokens (not ambient: a forging page cannot attach them)', async () => {
      const token = await tok(grants([], ['chat.*']));
      const r = await post({ authorization: `Bearer ${token}` });
      assert.equal(r.status, 202);
    });
  });

  it('image pings carry the token as ?token= and never publish it as a field', async () => {
    const token = await tok(grants(['img.*'], ['img.*']));
    const refusedBefore = t.hub.core.stats.pingsRefused;
    const r = await fetch(`${t.url}/ping/img.a?k=v&token=${token}`);
    assert.ok(r.status === 200 || r.status === 204);
    await r.arrayBuffer();
    const poll = await call(`${t.url}/sub/img.a?mode=poll&last=1&token=${token}`);
    const messages = poll.body.messages as Array<{ data: Record<string, unknown> }>;
    assert.deepEqual(messages.at(-1)!.data, { k: 'v' });
    const denied = await fetch(`${t.url}/ping/img.a?k=v`);
    assert.equal(denied.status, 401);
    await denied.arrayBuffer();
    assert.equal(t.hub.core.stats.pingsRefused, refusedBefore);
  });
});

describe('keys: RS256 PEM, ES256 JWK, JWKS file; algorithm confusion', () => {
  it('verifies RS256 with a PEM public key and refuses an HS256 token signed with that PEM as secret', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const pem = await exportSPKI(publicKey);
    const t = await startHub({ auth: { key: pem } });
    try {
      const good = await new SignJWT(grants(['a.*']))
        .setProtectedHeader({ alg: 'RS256' })
        .setExpirationTime('1h')
        .sign(privateKey);
      assert.equal((await call(`${t.url}/sub/a.b?mode=poll&token=${good}`)).status, 200);
      const confused = await new SignJWT(grants(['a.*']))
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(pem));
      const r = await call(`${t.url}/sub/a.b?mode=poll&token=${confused}`);
      assert.equal(r.status, 401);
    } finally {
      await t.close();
    }
  });

  it('verifies ES256 with a JWK, and JWKS files pick the key by kid and reload on change', async () => {
    const a = await generateKeyPair('ES256');
    const t = await startHub({ auth: { key: await exportJWK(a.publicKey) } });
    try {
      const good = await new SignJWT(grants(['a.*']))
        .setProtectedHeader({ alg: 'ES256' })
        .setExpirationTime('1h')
        .sign(a.privateKey);
      assert.equal((await call(`${t.url}/sub/a.b?mode=poll&token=${good}`)).status, 200);
    } finally {
      await t.close();
    }
    const dir = mkdtempSync(join(tmpdir(), 'cometa-jwks-'));
    const file = join(dir, 'jwks.json');
    const b = await generateKeyPair('RS256');
    const jwk = (k: CryptoKey, kid: string, alg: string) => exportJWK(k).then((j) => ({ ...j, kid, alg }));
    writeFileSync(file, JSON.stringify({ keys: [await jwk(a.publicKey, 'k1', 'ES256')] }));
    const t2 = await startHub({ auth: { jwksFile: file } });
    try {
      const t1 = await new SignJWT(grants(['a.*']))
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setExpirationTime('1h')
        .sign(a.privateKey);
      const tk2 = await new SignJWT(grants(['a.*']))
        .setProtectedHeader({ alg: 'RS256', kid: 'k2' })
        .setExpirationTime('1h')
        .sign(b.privateKey);
      assert.equal((await call(`${t2.url}/sub/a.b?mode=poll&token=${t1}`)).status, 200);
      assert.equal((await call(`${t2.url}/sub/a.b?mode=poll&token=${tk2}`)).status, 401);
      // Rotate: k2 added, k1 removed. The file is re-checked at most every 5 s.
      writeFileSync(file, JSON.stringify({ keys: [await jwk(b.publicKey, 'k2', 'RS256')] }));
      await sleep(5200);
      assert.equal((await call(`${t2.url}/sub/a.b?mode=poll&token=${tk2}`)).status, 200);
      assert.equal((await call(`${t2.url}/sub/a.b?mode=poll&token=${t1}`)).status, 401);
    } finally {
      await t2.close();
    }
  });

  it('accepts a token without exp only when options.auth.requireExp is false', async () => {
    const forever = await new SignJWT(grants(['a.*'])).setProtectedHeader({ alg: 'HS256' }).sign(secretKey);
    const strict = await startHub({ auth: { key: SECRET } });
    const lax = await startHub({ auth: { key: SECRET, requireExp: false } });
    try {
      const r = await call(`${strict.url}/sub/a.b?mode=poll&token=${forever}`);
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /no expiry/);
      assert.equal((await call(`${lax.url}/sub/a.b?mode=poll&token=${forever}`)).status, 200);
    } finally {
      await strict.close();
      await lax.close();
    }
    assert.throws(
      () => createHub({ logger: false, auth: { key: SECRET, requireExp: 'no' as never } }),
      /options\.auth\.requireExp must be a boolean/,
    );
  });

  it('validates options.auth at construction, naming the option', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ key: 'short' }, /at least 32 bytes/],
      [{}, /exactly one of key or jwksFile/],
      [{ key: SECRET, jwksFile: '/x' }, /exactly one/],
      [{ jwksFile: '/nonexistent/jwks.json' }, /options\.auth\.jwksFile/],
      [{ key: SECRET, algorithms: ['RS256'] }, /only verifies HS256/],
      [{ key: SECRET, algorithms: ['none'] }, /options\.auth\.algorithms/],
      [{ key: SECRET, clockTolerance: -1 }, /clockTolerance/],
      [{ key: SECRET, cookie: 'a b' }, /options\.auth\.cookie/],
      [{ key: SECRET, wat: 1 }, /options\.auth\.wat/],
      [
        {
          key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
            type: 'pkcs8',
            format: 'pem',
          }),
        },
        /PUBLIC key/,
      ],
      [{ key: { kty: 'oct' } }, /not a valid JWK/],
    ];
    for (const [auth, re] of bad) {
      assert.throws(
        () => createHub({ logger: false, auth: auth as never }),
        (err: Error) => err instanceof OptionsError && re.test(err.message),
        String(re),
      );
    }
    assert.throws(
      () => createHub({ logger: false, channels: [{ pattern: 'a', subscribe: 'open' as never }] }),
      /options\.channels\[0\]\.subscribe must be 'public' or 'token'/,
    );
  });
});

describe('CSRF when CORS allows any origin to read', () => {
  it("does not let cors.origins '*' mean any page may write with the cookie; same-origin pages may", async () => {
    const t = await startHub({ auth: { key: SECRET } });
    try {
      const cookie = `cometa_token=${await hs(grants([], ['c.*']), { exp: '1h' })}`;
      const evil = await call(`${t.url}/pub/c.x`, {
        method: 'POST',
        headers: { cookie, origin: 'https://evil.example', 'x-cometa': '1' },
        body: 'x',
      });
      assert.equal(evil.body.error?.code, 'ERR_CSRF');
      const same = await call(`${t.url}/pub/c.x`, {
        method: 'POST',
        headers: { cookie, origin: t.url, 'x-cometa': '1' },
        body: 'x',
      });
      assert.equal(same.status, 202);
    } finally {
      await t.close();
    }
  });
});

describe('hub.authorize(hook)', () => {
  it('lets the app decide for non-public channels, sees the claims, and fails closed', async () => {
    const t = await startHub({
      auth: { key: SECRET },
      channels: [{ pattern: 'open.*', subscribe: 'public' }],
    });
    try {
      const seen: Array<{ action: string; channel: string; sub: unknown; granted: boolean }> = [];
      t.hub.authorize(async ({ action, channel, claims, granted }) => {
        seen.push({ action, channel, sub: claims?.sub, granted });
        if (channel === 'boom.x') throw new Error('db down');
        return channel === `user.${claims?.sub}`;
      });
      const token = await new SignJWT({ sub: 'u1', ...grants(['scores.*']) })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(secretKey);
      const h = { authorization: `Bearer ${token}` };
      assert.equal((await call(`${t.url}/sub/user.u1?mode=poll`, { headers: h })).status, 200);
      assert.equal((await call(`${t.url}/sub/user.u2?mode=poll`, { headers: h })).status, 403);
      // The hook replaces the grants (it sees them as ctx.granted).
      assert.equal((await call(`${t.url}/sub/scores.a?mode=poll`, { headers: h })).status, 403);
      assert.deepEqual(seen.at(-1), { action: 'subscribe', channel: 'scores.a', sub: 'u1', granted: true });
      assert.equal((await call(`${t.url}/sub/boom.x?mode=poll`, { headers: h })).status, 403);
      // Without a token, 401 (a token could help); public channels never reach the hook.
      assert.equal((await call(`${t.url}/sub/user.u1?mode=poll`)).status, 401);
      const n = seen.length;
      assert.equal((await call(`${t.url}/sub/open.a?mode=poll`)).status, 200);
      assert.equal(seen.length, n);
    } finally {
      await t.close();
    }
  });

  it('works without options.auth (hook-only access control, 403 when it says no)', async () => {
    const t = await startHub();
    try {
      t.hub.authorize(({ req }) => req?.headers['x-app-session'] === 'ok');
      assert.equal((await call(`${t.url}/sub/a?mode=poll`)).status, 403);
      assert.equal(
        (await call(`${t.url}/sub/a?mode=poll`, { headers: { 'x-app-session': 'ok' } })).status,
        200,
      );
      t.hub.authorize(null);
      assert.equal((await call(`${t.url}/sub/a?mode=poll`)).status, 200);
    } finally {
      await t.close();
    }
  });
});

describe('limits', () => {
  it('rate-limits publishes per IP and per token with 429 and Retry-After', async () => {
    const t = await startHub({
      auth: { key: SECRET },
      limits: { publishRatePerIp: 10, publishRatePerToken: 3 },
    });
    try {
      const token = await new SignJWT({ sub: 'u1', ...grants([], ['c.*']) })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(secretKey);
      const statuses: number[] = [];
      let retry: string | null = null;
      const started = Date.now();
      for (let i = 0; i < 10; i++) {
        const r = await call(`${t.url}/pub/c.x`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
          body: 'x',
        });
        statuses.push(r.status);
        if (r.status === 429) {
          retry = r.headers.get('retry-after');
          assert.equal(r.body.error?.code, 'ERR_RATE_LIMITED');
        }
      }
      // Burst = 2 × rate = 6 for the token; the bucket refills 3 per second while the loop runs
      // (slow on a loaded machine), and nothing beyond burst + refill gets through.
      const refilled = Math.ceil(((Date.now() - started) / 1000) * 3);
      assert.deepEqual(statuses.slice(0, 6), [202, 202, 202, 202, 202, 202]);
      const accepted = statuses.filter((s) => s === 202).length;
      assert.ok(accepted <= 6 + refilled && statuses.includes(429), `${statuses} (refill ${refilled})`);
      assert.ok(
        statuses.every((s) => s === 202 || s === 429),
        String(statuses),
      );
      assert.ok(Number(retry) >= 1, `Retry-After ${retry}`);
      assert.equal(t.hub.core.stats.rateLimited, 10 - accepted);
    } finally {
      await t.close();
    }
  });

  it('keeps bucket memory bounded: idle buckets are swept, the map is capped', () => {
    const b = new Buckets(10);
    for (let i = 0; i < MAX_BUCKETS + 5000; i++) b.take(`k${i}`, 1000);
    assert.equal(b.size, MAX_BUCKETS);
    b.sweep(1000 + 1999);
    assert.equal(b.size, MAX_BUCKETS);
    b.sweep(1000 + 2000);
    assert.equal(b.size, 0);
    // A bucket still refilling is kept (it is not the same as a fresh one).
    for (let i = 0; i < 25; i++) b.take('busy', 5000);
    b.sweep(5500);
    assert.equal(b.size, 1);
    assert.ok(b.take('busy', 5500) === 0);
  });

  it('limits open connections per IP and in total with 503 ERR_TOO_MANY_CONNECTIONS', async () => {
    const t = await startHub({ limits: { maxConnectionsPerIp: 3 } });
    try {
      const acs = [0, 1, 2].map(() => new AbortController());
      const held = acs.map((ac) =>
        fetch(`${t.url}/sub/held?timeout=30`, { signal: ac.signal }).catch(() => {}),
      );
      await waitFor(() => t.hub.core.subscriberCount('held') === 3, 5000, 'three held polls');
      const r = await call(`${t.url}/healthz`);
      assert.equal(r.status, 503);
      assert.equal(r.body.error?.code, 'ERR_TOO_MANY_CONNECTIONS');
      acs[0]!.abort();
      await held[0];
      await waitFor(() => t.hub.core.subscriberCount('held') === 2, 5000, 'one released');
      await sleep(50);
      assert.equal((await call(`${t.url}/healthz`)).status, 200);
      for (const ac of acs) ac.abort();
      await Promise.all(held);
    } finally {
      await t.close();
    }
    const t2 = await startHub({ limits: { maxConnections: 1 } });
    try {
      const ac = new AbortController();
      const held = fetch(`${t2.url}/sub/h?timeout=30`, { signal: ac.signal }).catch(() => {});
      await waitFor(() => t2.hub.core.subscriberCount('h') === 1, 5000, 'held');
      assert.equal((await call(`${t2.url}/healthz`)).status, 503);
      ac.abort();
      await held;
    } finally {
      await t2.close();
    }
  });

  it('closes refused upgrade sockets even when the peer never closes its side (hub.close() is not held)', async () => {
    const t = await startHub({});
    const s = connect(t.port, '127.0.0.1');
    s.on('error', () => {});
    let answer = '';
    s.on('data', (d) => {
      answer += d;
    });
    await new Promise((r) => s.once('connect', r));
    s.write('POST /sub/a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    await waitFor(() => s.destroyed || s.readableEnded || answer !== '', 5000, 'answer');
    assert.match(answer, /^HTTP\/1\.1 405 .*"ERR_METHOD_NOT_ALLOWED"/s);
    const started = Date.now();
    await t.close();
    assert.ok(Date.now() - started < 3000, 'close did not wait for the half-open socket');
    s.destroy();
  });

  it('answers oversized heads with 431, and non-HTTP with 400, as JSON errors', async () => {
    const t = await startHub({ limits: { maxHeaderBytes: 4096 } });
    try {
      const big = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${t.url}/healthz`, { headers: { 'x-big': 'a'.repeat(8000) } }, (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(big.status, 431);
      assert.equal(JSON.parse(big.body).error.code, 'ERR_HEADERS_TOO_LARGE');
      const raw = await new Promise<string>((resolve) => {
        const s = connect(t.port, '127.0.0.1', () => s.write('GARBAGE \x00\x01 nonsense\r\n\r\n'));
        let out = '';
        s.on('data', (d) => {
          out += d;
        });
        s.on('close', () => resolve(out));
        s.on('error', () => resolve(out));
      });
      assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(raw, /"code":"ERR_BAD_REQUEST"/);
    } finally {
      await t.close();
    }
  });
});
