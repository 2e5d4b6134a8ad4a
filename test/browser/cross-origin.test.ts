/**
 * Cross-origin in a real Chromium, across real origins. The hub is reached as `http://localhost:PORT_B`;
 * pages are served from `http://127.0.0.1:PORT_A` (listed in cors.origins; another host, so another
 * origin and another site), `http://localhost:PORT_A` (listed; same site as the hub, another origin)
 * and `http://localhost:PORT_C` (not listed; same site). Cookies are tested from the same-site pages:
 * this Chromium blocks third-party cookies, so a cookie for `localhost` is never attached to a request
 * from the 127.0.0.1 page whatever the hub answers (a hub that relies on cookies must be same-site
 * with its pages, e.g. hub.example.com for www.example.com; see docs/cross-origin.md).
 * The hub counts what it sees (every request's method, path, Origin and Cookie) so the tests can tell
 * what the browser did (preflights sent or cached, cookies attached) and not only what the page saw.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { pino } from 'pino';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { publish, startHub, waitFor } from '../helpers/hub.js';

interface Seen {
  method: string;
  path: string;
  origin: string | undefined;
  cookie: string | undefined;
}

/** A hub reached through `localhost`, recording every request and its log lines. */
async function hubOn(options: Parameters<typeof startHub>[0]) {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l));
      cb();
    },
  });
  const t = await startHub({ ...options, logger: pino({ level: 'info' }, dest) });
  const seen: Seen[] = [];
  const record = (req: IncomingMessage) =>
    seen.push({
      method: req.method ?? '',
      path: req.url ?? '',
      origin: req.headers.origin,
      cookie: req.headers.cookie,
    });
  t.hub.server?.on('request', record);
  t.hub.server?.on('upgrade', record);
  const url = `http://localhost:${t.port}`;
  return Object.assign(t, { url, local: t.url, seen, lines });
}

/**
 * The browser client, bundled in memory from src/client (as scripts/build.mjs does for dist/, which
 * other builds may be rewriting while this runs): the page hosts its own copy, the hub is elsewhere.
 */
async function clientBundle(): Promise<string> {
  const out = await build({
    entryPoints: ['src/client/index.ts'],
    bundle: true,
    format: 'iife',
    globalName: 'cometa',
    platform: 'browser',
    target: ['es2019'],
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]?.text ?? '';
}
let bundle = '';

/** A tiny page server: `/cometa.js` is the client; every other path an empty HTML page. */
async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/cometa.js') {
      res.writeHead(200, { 'Content-Type': 'application/javascript; charset=utf-8' });
      res.end(bundle);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('<!doctype html><html><head><title>page</title></head><body></body></html>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

let hub: Awaited<ReturnType<typeof hubOn>>;
let publicHub: Awaited<ReturnType<typeof hubOn>>;
let listed: { server: Server; origin: string };
let unlisted: { server: Server; origin: string };
let context: BrowserContext;
let profile: string;
let page: Page;
let stranger: Page;
/** The listed origin on the hub's own site (localhost), where the hub's cookie is first-party. */
let sibling: Page;

/** The same page server reached through `localhost`: another origin, on the hub's site. */
const sameSite = (origin: string) => origin.replace('127.0.0.1', 'localhost');

const options = (seen: Seen[], method: string, prefix: string) =>
  seen.filter((s) => s.method === method && s.path.startsWith(prefix)).length;

before(async () => {
  bundle = await clientBundle();
  listed = await pageServer();
  const other = await pageServer();
  unlisted = { server: other.server, origin: sameSite(other.origin) };
  hub = await hubOn({
    cors: { origins: [listed.origin, sameSite(listed.origin)], credentials: true, maxAge: 600 },
    channels: [
      { pattern: 'guest.*', publishGet: true },
      { pattern: 'clicks.**', ping: true },
    ],
    heartbeatMs: 1000,
    sseRetryMs: 300,
  });
  publicHub = await hubOn({});
  profile = mkdtempSync(join(tmpdir(), 'cometa-xo-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  // esbuild (tsx) wraps named functions in __name(); functions passed to page.evaluate need it too.
  await context.addInitScript('globalThis.__name = (f) => f;');
  // The hub's session cookie, as a login on the hub's site would have set it.
  await context.addCookies([
    { name: 'sid', value: 'abc123', domain: 'localhost', path: '/', sameSite: 'Lax' },
  ]);
  page = await context.newPage();
  await page.goto(`${listed.origin}/`);
  stranger = await context.newPage();
  await stranger.goto(`${unlisted.origin}/`);
  sibling = await context.newPage();
  await sibling.goto(`${sameSite(listed.origin)}/`);
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await Promise.all([hub?.close(), publicHub?.close()]);
  for (const s of [listed, unlisted]) s?.server.closeAllConnections();
  await Promise.all([listed, unlisted].map((s) => new Promise((r) => s?.server.close(r))));
});

describe('cross-origin in Chromium', { timeout: 60_000 }, () => {
  it('really uses two origins (the hub is on localhost, the page on 127.0.0.1)', async () => {
    assert.equal(await page.evaluate(() => location.origin), listed.origin);
    assert.notEqual(new URL(hub.url).origin, listed.origin);
  });

  it('a simple GET to a public hub: readable, with no preflight', async () => {
    const r = await page.evaluate(async (u) => {
      const res = await fetch(`${u}/pub/news`);
      return {
        status: res.status,
        body: await res.json(),
        acao: res.headers.get('access-control-allow-origin'),
      };
    }, publicHub.url);
    assert.equal(r.status, 200);
    assert.equal(r.body.channel, 'news');
    assert.equal(options(publicHub.seen, 'OPTIONS', '/'), 0);
    const seen = publicHub.seen.find((s) => s.path === '/pub/news');
    assert.equal(seen?.origin, listed.origin, 'the browser sent the page origin');
  });

  it('a JSON POST is preflighted once, then not again within Max-Age; exposed headers are readable', async () => {
    const post = (body: unknown) =>
      page.evaluate(
        async ([u, b]) => {
          const res = await fetch(`${u}/pub/chat.room1`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(b),
          });
          return {
            status: res.status,
            body: (await res.json()) as { id: string },
            id: res.headers.get('Cometa-Id'),
            // Not exposed: a cross-origin script must not see it.
            nosniff: res.headers.get('X-Content-Type-Options'),
          };
        },
        [hub.url, body] as const,
      );
    const first = await post({ n: 1 });
    assert.equal(first.status, 202);
    assert.equal(first.id, first.body.id, 'Cometa-Id is exposed');
    assert.equal(first.nosniff, null, 'headers not exposed stay hidden');
    assert.equal(options(hub.seen, 'OPTIONS', '/pub/chat.room1'), 1, 'one preflight');
    const second = await post({ n: 2 });
    assert.equal(second.status, 202);
    assert.equal(options(hub.seen, 'OPTIONS', '/pub/chat.room1'), 1, 'the preflight was cached (Max-Age)');
    assert.equal(options(hub.seen, 'POST', '/pub/chat.room1'), 2);
  });

  it('a preflight refused for a header not allowed fails in the browser, and the POST is never sent', async () => {
    const err = await page.evaluate(async (u) => {
      try {
        await fetch(`${u}/pub/chat.room2`, { method: 'POST', headers: { 'X-Evil': '1' }, body: 'x' });
        return 'no error';
      } catch (e) {
        return (e as Error).name;
      }
    }, hub.url);
    assert.equal(err, 'TypeError');
    assert.equal(options(hub.seen, 'OPTIONS', '/pub/chat.room2'), 1);
    assert.equal(options(hub.seen, 'POST', '/pub/chat.room2'), 0);
    assert.ok(hub.lines.some((l) => l.msg === 'preflight refused' && /x-evil/.test(String(l.refusal))));
  });

  it('credentialed requests carry the cookie and succeed from a listed origin, fail from another', async () => {
    const call = (p: Page) =>
      p.evaluate(async (u) => {
        try {
          const res = await fetch(`${u}/pub/cred.check`, {
            method: 'POST',
            credentials: 'include',
            body: 'hello',
          });
          return { status: res.status, acac: res.headers.get('Access-Control-Allow-Credentials') };
        } catch (e) {
          return { error: (e as Error).name };
        }
      }, hub.url);
    const ok = await call(sibling);
    assert.deepEqual(ok, { status: 202, acac: null }, 'Allow-Credentials is not exposed, the answer is');
    const sent = hub.seen.filter((s) => s.path === '/pub/cred.check');
    assert.equal(sent[0]?.cookie, 'sid=abc123', 'the browser attached the cookie');
    const bad = await call(stranger);
    assert.deepEqual(bad, { error: 'TypeError' });
    const fromStranger = hub.seen.filter((s) => s.path === '/pub/cred.check' && s.origin === unlisted.origin);
    assert.equal(fromStranger.length, 1, 'the request reached the hub');
    assert.equal(fromStranger[0]?.cookie, 'sid=abc123', 'with the cookie: only CORS stops it');
    const info = (await (await fetch(`${hub.local}/pub/cred.check`)).json()) as { stored: number };
    assert.equal(info.stored, 1, 'the unlisted origin published nothing (403)');
    // A credentialed GET (no state change) from the unlisted origin: answered, but not exposed.
    const read = await stranger.evaluate(async (u) => {
      try {
        await fetch(`${u}/pub/cred.check`, { credentials: 'include' });
        return 'read';
      } catch (e) {
        return (e as Error).name;
      }
    }, hub.url);
    assert.equal(read, 'TypeError');
  });

  it('EventSource with withCredentials: live messages with the cookie, resume after a cut, listed origins only', async () => {
    const open = (p: Page, name: string) =>
      p.evaluate(
        ([u, n]) => {
          const w = window as unknown as Record<string, unknown>;
          const got: unknown[] = [];
          const state = { got, errors: 0, open: false };
          w[n] = state;
          const es = new EventSource(`${u}/sub/sse.cred`, { withCredentials: true });
          es.onopen = () => {
            state.open = true;
          };
          es.onerror = () => {
            state.errors++;
            // A CORS failure is fatal for EventSource (readyState CLOSED); stop either way.
            if (state.errors > 1) es.close();
          };
          es.addEventListener('message', (e) => got.push(JSON.parse((e as MessageEvent).data).data));
          w[`${n}_es`] = es;
        },
        [hub.url, name] as const,
      );
    // The SSE requests from the listed page: their sockets (to cut one) and their Last-Event-ID.
    const sseConns: Array<{ socket: import('node:net').Socket; lastEventId: string | undefined }> = [];
    hub.hub.server?.on('request', (req: IncomingMessage) => {
      if (req.url?.startsWith('/sub/sse.cred') && req.headers.origin === sameSite(listed.origin))
        sseConns.push({
          socket: req.socket,
          lastEventId: req.headers['last-event-id'] as string | undefined,
        });
    });
    await open(sibling, 'sseOk');
    await open(stranger, 'sseBad');
    await waitFor(() => hub.hub.core.subscriberCount('sse.cred') >= 1, 10_000, 'an SSE subscriber');
    await sibling.waitForFunction(
      () => (window as unknown as { sseOk: { open: boolean } }).sseOk.open,
      null,
      {
        timeout: 10_000,
      },
    );
    await publish(hub.local, 'sse.cred', { n: 1 });
    await publish(hub.local, 'sse.cred', { n: 2 });
    await sibling.waitForFunction(
      () => (window as unknown as { sseOk: { got: unknown[] } }).sseOk.got.length >= 2,
      null,
      {
        timeout: 10_000,
      },
    );
    assert.deepEqual(
      await sibling.evaluate(() => (window as unknown as { sseOk: { got: unknown[] } }).sseOk.got),
      [{ n: 1 }, { n: 2 }],
    );
    const sseReqs = hub.seen.filter(
      (s) => s.path.startsWith('/sub/sse.cred') && s.origin === sameSite(listed.origin),
    );
    assert.equal(sseReqs[0]?.cookie, 'sid=abc123');
    // Cut the stream; a message published meanwhile arrives after EventSource reconnects by itself,
    // cross-origin and with credentials, resuming from Last-Event-ID.
    assert.equal(sseConns.length, 1);
    sseConns[0]?.socket.destroy();
    await publish(hub.local, 'sse.cred', { n: 3 });
    await sibling.waitForFunction(
      () => (window as unknown as { sseOk: { got: unknown[] } }).sseOk.got.length >= 3,
      null,
      { timeout: 15_000 },
    );
    assert.deepEqual(
      await sibling.evaluate(() => (window as unknown as { sseOk: { got: unknown[] } }).sseOk.got),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    );
    assert.match(String(sseConns[1]?.lastEventId), /-\d+$/, 'the reconnect carried Last-Event-ID');
    const again = hub.seen.filter((s) => s.path === '/sub/sse.cred' && s.origin === sameSite(listed.origin));
    assert.deepEqual(
      again.map((s) => [s.method, s.cookie]),
      [
        ['GET', 'sid=abc123'],
        ['GET', 'sid=abc123'],
      ],
      'the reconnect is not preflighted (Last-Event-ID is exempt) and carries the cookie',
    );
    await stranger.waitForFunction(
      () => (window as unknown as { sseBad: { errors: number } }).sseBad.errors >= 1,
      null,
      {
        timeout: 10_000,
      },
    );
    const bad = await stranger.evaluate(() => {
      const w = window as unknown as { sseBad: { got: unknown[]; open: boolean }; sseBad_es: EventSource };
      w.sseBad_es.close();
      return { got: w.sseBad.got, open: w.sseBad.open };
    });
    assert.deepEqual(bad, { got: [], open: false });
    await sibling.evaluate(() => (window as unknown as { sseOk_es: EventSource }).sseOk_es.close());
  });

  it('JSONP subscribe: script tags receive live messages, gaplessly, across origins', async () => {
    await page.evaluate((u) => {
      const w = window as unknown as Record<string, unknown>;
      const jp = {
        messages: [] as unknown[],
        cursor: null as string | null,
        polls: 0,
        errors: [] as unknown[],
      };
      w.jp = jp;
      const next = () => {
        const s = document.createElement('script');
        s.src = `${u}/sub/jp.live?callback=jp.onPoll&timeout=10${jp.cursor ? `&since=${encodeURIComponent(jp.cursor)}` : ''}`;
        s.onload = s.onerror = () => s.remove();
        document.head.appendChild(s);
      };
      Object.assign(jp, {
        onPoll(answer: { messages?: Array<{ data: unknown }>; cursor?: string; error?: unknown }) {
          jp.polls++;
          if (answer.error) {
            jp.errors.push(answer.error);
            return;
          }
          for (const m of answer.messages ?? []) jp.messages.push(m.data);
          jp.cursor = answer.cursor ?? jp.cursor;
          if (jp.messages.length < 3) next();
        },
      });
      next();
    }, hub.url);
    await waitFor(() => hub.hub.core.subscriberCount('jp.live') === 1, 10_000, 'a JSONP poll');
    await publish(hub.local, 'jp.live', 'one');
    await publish(hub.local, 'jp.live', 'two');
    await waitFor(() => hub.hub.core.subscriberCount('jp.live') === 1, 10_000, 'the next JSONP poll');
    await publish(hub.local, 'jp.live', 'three');
    await page.waitForFunction(
      () => (window as unknown as { jp: { messages: unknown[] } }).jp.messages.length >= 3,
      null,
      {
        timeout: 15_000,
      },
    );
    const jp = await page.evaluate(
      () => (window as unknown as { jp: { messages: unknown[]; errors: unknown[] } }).jp,
    );
    assert.deepEqual(jp.messages, ['one', 'two', 'three']);
    assert.deepEqual(jp.errors, []);
  });

  it('JSONP publish: a script tag publishes on a publishGet channel; a refusal reaches the callback', async () => {
    const result = await page.evaluate(
      (u) =>
        new Promise<unknown[]>((resolve) => {
          const out: unknown[] = [];
          const w = window as unknown as Record<string, unknown>;
          const load = (src: string, name: string) =>
            new Promise<void>((done) => {
              w[name] = (arg: unknown) => out.push(arg);
              const s = document.createElement('script');
              s.src = `${src}&callback=${name}`;
              s.onload = s.onerror = () => done();
              document.head.appendChild(s);
            });
          load(
            `${u}/pub/guest.book?data=${encodeURIComponent('{"from":"page"}')}&format=json&event=signed`,
            'ok1',
          )
            .then(() => load(`${u}/pub/private.room?data=x`, 'no1'))
            .then(() => resolve(out));
        }),
      hub.url,
    );
    const [ok, refused] = result as [
      { id: string; channel: string },
      { error: { code: string; status: number } },
    ];
    assert.equal(ok.channel, 'guest.book');
    assert.match(ok.id, /-\d+$/);
    assert.deepEqual(
      { code: refused.error.code, status: refused.error.status },
      { code: 'ERR_PUBLISH_DISABLED', status: 403 },
    );
    const res = await fetch(`${hub.local}/sub/guest.book?mode=poll&last=5`);
    const { messages } = (await res.json()) as {
      messages: Array<{ id: string; event: string; data: unknown }>;
    };
    assert.deepEqual(
      messages.map((m) => [m.id, m.event, m.data]),
      [[ok.id, 'signed', { from: 'page' }]],
    );
    const priv = (await (await fetch(`${hub.local}/pub/private.room`)).json()) as { stored: number };
    assert.equal(priv.stored, 0);
  });

  it('image ping: an <img> on the page publishes across origins, seen by a subscriber; refusals still load', async () => {
    // A subscriber on another page (the unlisted origin may read nothing, so a listed-origin SSE).
    await page.evaluate((u) => {
      const w = window as unknown as Record<string, unknown>;
      const got: unknown[] = [];
      w.clicks = got;
      const es = new EventSource(`${u}/sub/clicks.home`);
      es.addEventListener('message', (e) => got.push(JSON.parse((e as MessageEvent).data).data));
      w.clicksEs = es;
    }, hub.url);
    await waitFor(() => hub.hub.core.subscriberCount('clicks.home') === 1, 10_000, 'the clicks subscriber');
    const refusedBefore = hub.hub.core.stats.pingsRefused;
    const loads = await stranger.evaluate((u) => {
      const ping = (src: string) =>
        new Promise<{ type: string; w: number; h: number }>((resolve) => {
          const img = new Image();
          img.onload = img.onerror = (e) =>
            resolve({ type: (e as Event).type, w: img.naturalWidth, h: img.naturalHeight });
          img.src = src;
        });
      return Promise.all([
        ping(`${u}/ping/clicks.home?button=buy&tag=a&tag=b`),
        ping(`${u}/ping/not.enabled?button=buy`),
      ]);
    }, hub.url);
    assert.deepEqual(loads, [
      { type: 'load', w: 1, h: 1 },
      { type: 'load', w: 1, h: 1 },
    ]);
    await page.waitForFunction(() => (window as unknown as { clicks: unknown[] }).clicks.length >= 1, null, {
      timeout: 10_000,
    });
    assert.deepEqual(await page.evaluate(() => (window as unknown as { clicks: unknown[] }).clicks), [
      { button: 'buy', tag: ['a', 'b'] },
    ]);
    assert.equal(hub.hub.core.stats.pingsRefused, refusedBefore + 1);
    const imgReq = hub.seen.find((s) => s.path.startsWith('/ping/clicks.home'));
    assert.equal(imgReq?.origin, undefined, 'an <img> sends no Origin: pings cannot rely on it');
    await page.evaluate(() => (window as unknown as { clicksEs: EventSource }).clicksEs.close());
  });

  it('a WebSocket from a refused origin is refused (403 at the upgrade); from a listed one it opens', async () => {
    const connect = (p: Page) =>
      p.evaluate(
        (u) =>
          new Promise<string>((resolve) => {
            const ws = new WebSocket(`${u.replace(/^http/, 'ws')}/sub/ws.room`);
            ws.onopen = () => {
              ws.close();
              resolve('open');
            };
            ws.onerror = () => resolve('error');
            setTimeout(() => resolve('timeout'), 10_000);
          }),
        hub.url,
      );
    assert.equal(await connect(stranger), 'error');
    assert.ok(hub.lines.some((l) => l.msg === 'websocket origin refused' && l.origin === unlisted.origin));
    assert.equal(await connect(page), 'open');
  });

  it('XDomainRequest limits (text/plain, no headers, no credentials): publish, read and errors, no preflight', async () => {
    const before = options(hub.seen, 'OPTIONS', '/');
    const r = await page.evaluate(async (u) => {
      const xdr = async (method: 'GET' | 'POST', path: string, body?: string) => {
        const res = await fetch(`${u}${path}`, {
          method,
          mode: 'cors',
          credentials: 'omit',
          ...(body === undefined ? {} : { body }),
        });
        // XDR could not read the status: only the body counts.
        return res.json();
      };
      return {
        json: await xdr('POST', '/pub/xdr.json?format=json&token=opaque', '{"a":[1,2]}'),
        form: await xdr('POST', '/pub/xdr.form?format=form', 'x=1&x=2&y=z'),
        bad: await xdr('POST', '/pub/xdr.json?format=json', '{oops'),
        read: await xdr('GET', '/sub/xdr.json?mode=poll&last=5'),
        info: await xdr('GET', '/pub/xdr.form'),
      };
    }, hub.url);
    assert.equal(r.json.channel, 'xdr.json');
    assert.equal(r.form.channel, 'xdr.form');
    assert.equal(r.bad.error.code, 'ERR_BAD_BODY');
    assert.deepEqual(
      r.read.messages.map((m: { data: unknown }) => m.data),
      [{ a: [1, 2] }],
    );
    assert.equal(r.info.stored, 1);
    const stored = (await (await fetch(`${hub.local}/sub/xdr.form?mode=poll&last=1`)).json()) as {
      messages: Array<{ data: unknown }>;
    };
    assert.deepEqual(stored.messages[0]?.data, { x: ['1', '2'], y: 'z' });
    assert.equal(options(hub.seen, 'OPTIONS', '/'), before, 'no preflight at all');
    const xdrPosts = hub.seen.filter((s) => s.method === 'POST' && s.path.startsWith('/pub/xdr.'));
    assert.ok(
      xdrPosts.every((s) => s.cookie === undefined),
      'no cookies sent',
    );
  });

  it('the cometa client from the page origin: subscribe over JSONP, jsonp() publish, ping(), across origins', async () => {
    await page.addScriptTag({ url: `${listed.origin}/cometa.js` });
    await page.evaluate((u) => {
      type Cometa = {
        subscribe(hub: string, ch: string, o: object): { close(): void; transport: string | undefined };
      };
      const w = window as unknown as { cometa: Cometa; clientGot: unknown[]; clientSub: unknown };
      w.clientGot = [];
      w.clientSub = w.cometa.subscribe(u, 'client.live', {
        transports: ['jsonp'],
        onMessage: (e: { data: unknown }) => w.clientGot.push(e.data),
      });
    }, hub.url);
    await waitFor(() => hub.hub.core.subscriberCount('client.live') === 1, 15_000, 'the client JSONP poll');
    await publish(hub.local, 'client.live', { hello: 'client' });
    await page.waitForFunction(
      () => (window as unknown as { clientGot: unknown[] }).clientGot.length >= 1,
      null,
      {
        timeout: 15_000,
      },
    );
    const r = await page.evaluate(async (u) => {
      type Cometa = {
        jsonp(url: string, o: object): Promise<unknown>;
        ping(url: string, q: object): Promise<boolean>;
        beacon(url: string, q: object): Promise<string>;
      };
      const w = window as unknown as {
        cometa: Cometa;
        clientGot: unknown[];
        clientSub: { transport: string; close(): void };
      };
      const transport = w.clientSub.transport;
      w.clientSub.close();
      return {
        got: w.clientGot,
        transport,
        published: await w.cometa.jsonp(`${u}/pub/guest.client`, {
          query: { data: 'via client' },
          timeout: 10_000,
        }),
        refused: await w.cometa.jsonp(`${u}/pub/private.client`, { query: { data: 'x' }, timeout: 10_000 }),
        pinged: await w.cometa.ping(`${u}/ping/clicks.client`, { a: 1, b: ['x', 'y'] }),
        beaconed: await w.cometa.beacon(`${u}/ping/clicks.beacon?from=query`, { k: 'v' }),
      };
    }, hub.url);
    assert.deepEqual(r.got, [{ hello: 'client' }]);
    assert.equal(r.transport, 'jsonp');
    assert.equal((r.published as { channel: string }).channel, 'guest.client');
    assert.equal((r.refused as { error: { code: string } }).error.code, 'ERR_PUBLISH_DISABLED');
    assert.equal(r.pinged, true, 'the GIF loaded');
    const res = await fetch(`${hub.local}/sub/clicks.client?mode=poll&last=1`);
    const { messages } = (await res.json()) as { messages: Array<{ data: unknown }> };
    assert.deepEqual(messages[0]?.data, { a: '1', b: ['x', 'y'] });
    // sendBeacon queues a urlencoded POST: the body's fields are merged after the query's.
    assert.equal(r.beaconed, 'beacon');
    await waitFor(
      () => hub.seen.some((s) => s.method === 'POST' && s.path.startsWith('/ping/clicks.beacon')),
      10_000,
    );
    let beaconData: unknown;
    for (const end = Date.now() + 10_000; beaconData === undefined && Date.now() < end; ) {
      const b = (await (await fetch(`${hub.local}/sub/clicks.beacon?mode=poll&last=1`)).json()) as {
        messages: Array<{ data: unknown }>;
      };
      beaconData = b.messages[0]?.data;
      if (beaconData === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(beaconData, { from: 'query', k: 'v' });
  });
});
