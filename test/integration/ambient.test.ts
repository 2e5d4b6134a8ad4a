/**
 * Ambient credentials: what a browser attaches by itself, whichever page made the request. An app
 * whose `hub.authorize` hook reads its own session cookie (`sid=...`, as docs/security.md shows)
 * gets the same CSRF defences as the `cometa_token` cookie. Each attack is made here the way a
 * foreign page would make it (the headers its browser sends), against a real hub.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { cookieValue } from '../../src/hub/http/auth.js';
import { startHub, type TestHub } from '../helpers/hub.js';

const EVIL = 'https://evil.example';
const APP = 'https://app.example';
const SID = 'sid=alice-session';
const SECRET = 'test-secret-that-is-long-enough-for-hs256!';

/** The app's hook: the session cookie names the user; users own `user.NAME`, `jp.NAME`, `img.NAME`. */
function sessionHook({ channel, req }: { channel: string; req: IncomingMessage | undefined }): boolean {
  const user = req && cookieValue(req, 'sid') === 'alice-session' ? 'alice' : undefined;
  return user !== undefined && channel.split('.')[1] === user;
}

interface Answer {
  status: number;
  text: string;
  body: { error?: { code: string } } & Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Answer['body'] = {};
  try {
    body = JSON.parse(text);
  } catch {
    // script or image
  }
  return { status: res.status, text, body };
}

/** Opens a WebSocket with the headers a browser would send; resolves with 101 or the refusal's status. */
function openSocket(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; ws?: WebSocket; frames: Array<Record<string, unknown>> }> {
  return new Promise((resolve) => {
    const frames: Array<Record<string, unknown>> = [];
    const ws = new WebSocket(url, { headers });
    ws.on('message', (raw) => frames.push(JSON.parse(String(raw))));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, frames });
      res.resume();
    });
    ws.on('open', () => resolve({ status: 101, ws, frames }));
    ws.on('error', () => {});
  });
}

/** Sends a command and waits for its answer (ack or error, matched by id). */
async function command(
  s: { ws?: WebSocket; frames: Array<Record<string, unknown>> },
  cmd: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const id = Math.random().toString(36).slice(2);
  s.ws!.send(JSON.stringify({ ...cmd, id }));
  const end = Date.now() + 5000;
  for (;;) {
    const found = s.frames.find((f) => f.id === id);
    if (found) return found;
    if (Date.now() > end) throw new Error(`no answer to ${JSON.stringify(cmd)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a hub.authorize hook reading the session cookie (cors.origins left at *)', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({
      channels: [
        { pattern: 'pub.*', subscribe: 'public', publish: 'public' },
        { pattern: 'jp.*', publishGet: true },
        { pattern: 'img.*', ping: true },
      ],
      limits: { publishRatePerIp: 0 },
    });
    t.hub.authorize(sessionHook);
    await t.hub.publish('user.alice', { secret: 'alice private' });
  });
  after(() => t.close());

  const stored = async (channel: string) => (await t.hub.info(channel)).stored;

  it('refuses a cross-site text/plain form POST publishing with the cookie (403 ERR_CSRF)', async () => {
    const before = await stored('user.alice');
    const r = await call(`${t.url}/pub/user.alice`, {
      method: 'POST',
      headers: { cookie: SID, origin: EVIL, 'content-type': 'text/plain' },
      body: '{"forged":"x"}',
    });
    assert.equal(r.status, 403);
    assert.equal(r.body.error?.code, 'ERR_CSRF');
    // No Origin at all (old browsers' forms) is refused too, and DELETE.
    const noOrigin = await call(`${t.url}/pub/user.alice`, {
      method: 'POST',
      headers: { cookie: SID, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'forged=x',
    });
    assert.equal(noOrigin.body.error?.code, 'ERR_CSRF');
    const del = await call(`${t.url}/pub/user.alice`, {
      method: 'DELETE',
      headers: { cookie: SID, origin: EVIL },
    });
    assert.equal(del.body.error?.code, 'ERR_CSRF');
    assert.equal(await stored('user.alice'), before);
  });

  it('refuses a <script> JSONP read of the private channel with last=5 (no data in the script)', async () => {
    // A script tag sends the cookie and no Origin.
    const r = await call(`${t.url}/sub/user.alice?callback=steal&mode=poll&last=5`, {
      headers: { cookie: SID },
    });
    assert.match(r.text, /^\/\*\*\/steal\(\{"error":\{"code":"ERR_FORBIDDEN"/);
    assert.ok(!r.text.includes('alice private'));
    const longpoll = await call(`${t.url}/sub/user.alice?callback=steal&transport=jsonp&last=5`, {
      headers: { cookie: SID },
    });
    assert.ok(!longpoll.text.includes('alice private'), longpoll.text);
  });

  it('refuses a cross-site WebSocket: no open, no replay, no publish or subscribe frames', async () => {
    const url = `${t.url.replace('http', 'ws')}/sub/user.alice?last=5`;
    const s = await openSocket(url, { cookie: SID, origin: EVIL });
    assert.equal(s.status, 403);
    assert.ok(!JSON.stringify(s.frames).includes('alice private'));
    // Open on a public channel (nothing needed), then try to use the cookie from there.
    const before = await stored('user.alice');
    const pub = await openSocket(`${t.url.replace('http', 'ws')}/sub/pub.lobby`, {
      cookie: SID,
      origin: EVIL,
    });
    assert.equal(pub.status, 101);
    const publish = await command(pub, { type: 'publish', channel: 'user.alice', data: 'forged' });
    assert.equal((publish.error as { code: string } | undefined)?.code, 'ERR_CSRF');
    const subscribe = await command(pub, { type: 'subscribe', channels: ['user.alice'] });
    assert.equal((subscribe.error as { code: string } | undefined)?.code, 'ERR_CSRF');
    pub.ws?.close();
    assert.equal(await stored('user.alice'), before);
  });

  it('refuses GET publishes with the cookie: image pings and JSONP publishes', async () => {
    const ping = await fetch(`${t.url}/ping/img.alice?k=v`, { headers: { cookie: SID, accept: 'image/*' } });
    await ping.arrayBuffer();
    assert.equal(ping.status, 403);
    assert.equal(await stored('img.alice'), 0);
    const jsonp = await call(`${t.url}/pub/jp.alice?callback=cb&data=forged`, { headers: { cookie: SID } });
    assert.match(jsonp.text, /ERR_CSRF/);
    assert.equal(await stored('jp.alice'), 0);
  });

  it("still serves the app's own pages: same-origin POST with X-Cometa, same-origin WebSocket", async () => {
    const ok = await call(`${t.url}/pub/user.alice`, {
      method: 'POST',
      headers: { cookie: SID, origin: t.url, 'x-cometa': '1', 'content-type': 'application/json' },
      body: '{"mine":1}',
    });
    assert.equal(ok.status, 202);
    // An allowed Origin alone proves nothing (a form could come from a page there).
    const noHeader = await call(`${t.url}/pub/user.alice`, {
      method: 'POST',
      headers: { cookie: SID, origin: t.url },
      body: 'x',
    });
    assert.equal(noHeader.body.error?.code, 'ERR_CSRF');
    const s = await openSocket(`${t.url.replace('http', 'ws')}/sub/user.alice?last=1`, {
      cookie: SID,
      origin: t.url,
    });
    assert.equal(s.status, 101);
    const ack = await command(s, { type: 'publish', channel: 'user.alice', data: 'from my page' });
    assert.equal(ack.type, 'ack');
    s.ws?.close();
    // Subscribing over SSE/poll from the page itself (CORS keeps other pages from reading).
    const poll = await call(`${t.url}/sub/user.alice?mode=poll&last=1`, { headers: { cookie: SID } });
    assert.equal(poll.status, 200);
  });
});

describe('ambient credentials: what counts, and what does not', () => {
  it('a Bearer token that grants the channel by itself is not ambient, even with cookies attached', async () => {
    const t = await startHub({ auth: { key: SECRET }, limits: { publishRatePerIp: 0 } });
    try {
      // The hook defers to the grants; the browser happens to attach a cookie too.
      t.hub.authorize(({ granted }) => granted);
      const token = await new SignJWT({ cometa: { publish: ['c.*'] } })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(SECRET));
      const r = await call(`${t.url}/pub/c.x`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, cookie: 'other=1' },
        body: 'x',
      });
      assert.equal(r.status, 202);
    } finally {
      await t.close();
    }
  });

  it("a verified Bearer header vouches for the hook's yes; a ?token= only when it grants the channel", async () => {
    const t = await startHub({ auth: { key: SECRET }, limits: { publishRatePerIp: 0 } });
    try {
      // The docs' hook: users own user.SUB, whatever the grants say.
      t.hub.authorize(({ channel, claims }) => channel === `user.${claims?.sub}`);
      const token = await new SignJWT({ sub: 'bob' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(SECRET));
      const bearer = await call(`${t.url}/pub/user.bob`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, cookie: 'theme=dark', origin: t.url },
        body: 'x',
      });
      assert.equal(bearer.status, 202);
      // The same token in a URL any page can write, with the user's cookies attached: prove intent.
      const query = await call(`${t.url}/pub/user.bob?token=${token}`, {
        method: 'POST',
        headers: { cookie: 'theme=dark', origin: EVIL },
        body: 'x',
      });
      assert.equal(query.body.error?.code, 'ERR_CSRF');
      const noCookie = await call(`${t.url}/pub/user.bob?token=${token}`, { method: 'POST', body: 'x' });
      assert.equal(noCookie.status, 202);
    } finally {
      await t.close();
    }
  });

  it('HTTP Basic (cached and replayed by browsers) is ambient; hub.authorize(hook, { ambient }) decides', async () => {
    const t = await startHub({ limits: { publishRatePerIp: 0 } });
    try {
      t.hub.authorize(({ req }) => req?.headers.authorization === 'Basic YWxpY2U6cHc=');
      const forged = await call(`${t.url}/pub/c.x`, {
        method: 'POST',
        headers: { authorization: 'Basic YWxpY2U6cHc=', origin: EVIL },
        body: 'x',
      });
      assert.equal(forged.body.error?.code, 'ERR_CSRF');
      // An app whose hook reads only a header no browser sends by itself says so.
      t.hub.authorize(({ req }) => req?.headers['x-app-key'] === 'k', { ambient: () => false });
      const header = await call(`${t.url}/pub/c.x`, {
        method: 'POST',
        headers: { 'x-app-key': 'k', cookie: 'unrelated=1' },
        body: 'x',
      });
      assert.equal(header.status, 202);
      assert.throws(
        () => t.hub.authorize(() => true, { ambient: 'no' as never }),
        /ambient must be a function/,
      );
    } finally {
      await t.close();
    }
  });
});

describe("the hub's own pages and auth.csrf.origins pass the first Origin check", () => {
  let t: TestHub;
  let cookie = '';
  before(async () => {
    t = await startHub({
      auth: { key: SECRET, csrf: { origins: ['https://admin.example'] } },
      cors: { origins: [APP], credentials: true },
      channels: [{ pattern: 'news.*', subscribe: 'public' }],
      limits: { publishRatePerIp: 0 },
    });
    const token = await new SignJWT({ cometa: { subscribe: ['c.*'], publish: ['c.*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
    cookie = `cometa_token=${token}`;
  });
  after(() => t.close());

  it('publishes with the cookie from a same-origin page and from an auth.csrf.origins page', async () => {
    for (const origin of [t.url, 'https://admin.example']) {
      const r = await call(`${t.url}/pub/c.x`, {
        method: 'POST',
        headers: { cookie, origin, 'x-cometa': '1' },
        body: 'x',
      });
      assert.equal(r.status, 202, `${origin}: ${JSON.stringify(r.body)}`);
    }
    for (const origin of [EVIL, APP]) {
      // auth.csrf.origins replaces cors.origins for writes with the session: APP may read only.
      const r = await call(`${t.url}/pub/c.x`, {
        method: 'POST',
        headers: { cookie, origin, 'x-cometa': '1' },
        body: 'x',
      });
      assert.equal(r.status, 403, origin);
    }
    // A same-origin WebSocket with the cookie opens too.
    const s = await openSocket(`${t.url.replace('http', 'ws')}/sub/c.x`, { cookie, origin: t.url });
    assert.equal(s.status, 101);
    s.ws?.close();
  });

  it('opens a WebSocket to a public channel despite a stale or unusable cookie and no Origin', async () => {
    const expired = await new SignJWT({ cometa: { subscribe: ['c.*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 120)
      .sign(new TextEncoder().encode(SECRET));
    for (const c of [`cometa_token=${expired}`, 'cometa_token=garbage', cookie]) {
      const s = await openSocket(`${t.url.replace('http', 'ws')}/sub/news.a`, { cookie: c });
      assert.equal(s.status, 101, c.slice(0, 30));
      // ...but the cookie cannot be used from there without an allowed Origin.
      const sub = await command(s, { type: 'subscribe', channels: ['c.x'] });
      assert.equal(sub.type, 'error');
      s.ws?.close();
    }
    // An explicit bad token is still the client's mistake: 401.
    const bad = await openSocket(`${t.url.replace('http', 'ws')}/sub/news.a?token=garbage`, {});
    assert.equal(bad.status, 401);
  });
});
