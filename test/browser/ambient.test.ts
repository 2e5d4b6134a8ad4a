/**
 * Cross-site requests with the app's own session cookie, made by a real Chromium from a foreign
 * page. The hub (`http://localhost:HUB`) leaves access to a `hub.authorize` hook that reads the
 * app's `sid` cookie, as docs/security.md shows; the attacker's page is `http://localhost:EVIL`:
 * another origin on the same site, so the browser attaches the `SameSite=Lax` cookie to everything
 * it sends (a sibling subdomain is the same case). The hub records what arrived, so each test shows
 * the browser did carry the cookie and the hub still refused. Last, a page of the hub's own origin
 * still publishes with the cookie, on a hub whose cors.origins lists only another site.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { cookieValue } from '../../src/hub/http/auth.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../helpers/browser.js';
import { startHub, type TestHub, waitFor } from '../helpers/hub.js';

let t: TestHub;
let hubUrl: string;
/** A hub whose cors.origins lists only another site: its own pages must still publish. */
let own: TestHub;
let evil: { server: Server; origin: string };
let context: BrowserContext;
let profile: string;
let page: Page;
const seen: Array<{ path: string; cookie: string | undefined }> = [];

const stored = async (channel: string) => (await t.hub.info(channel)).stored;
const arrivedWithCookie = (prefix: string) =>
  seen.some((s) => s.path.startsWith(prefix) && s.cookie?.includes('sid=alice-session') === true);

before(async () => {
  t = await startHub({
    channels: [
      { pattern: 'pub.*', subscribe: 'public', publish: 'public' },
      { pattern: 'jp.*', publishGet: true },
      { pattern: 'img.*', ping: true },
    ],
    limits: { publishRatePerIp: 0 },
  });
  const hook = ({ channel, req }: { channel: string; req: IncomingMessage | undefined }) => {
    const user = req && cookieValue(req, 'sid') === 'alice-session' ? 'alice' : undefined;
    return user !== undefined && channel.split('.')[1] === user;
  };
  t.hub.authorize(hook);
  own = await startHub({ cors: { origins: ['https://app.example'] }, limits: { publishRatePerIp: 0 } });
  own.hub.authorize(hook);
  const record = (req: IncomingMessage) => seen.push({ path: req.url ?? '', cookie: req.headers.cookie });
  t.hub.server?.on('request', record);
  t.hub.server?.on('upgrade', record);
  await t.hub.publish('user.alice', { secret: 'alice private' });
  hubUrl = `http://localhost:${t.port}`;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('<!doctype html><html><head><title>evil</title></head><body></body></html>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  evil = { server, origin: `http://localhost:${(server.address() as AddressInfo).port}` };
  profile = mkdtempSync(join(tmpdir(), 'cometa-ambient-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  await context.addInitScript('globalThis.__name = (f) => f;');
  // Alice is logged in to the app: its session cookie, as the app's login would have set it.
  await context.addCookies([
    { name: 'sid', value: 'alice-session', domain: 'localhost', path: '/', sameSite: 'Lax' },
  ]);
  page = await context.newPage();
  await page.goto(`${evil.origin}/`);
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await t?.close();
  await own?.close();
  evil?.server.closeAllConnections();
  await new Promise((r) => evil?.server.close(r));
});

describe('a foreign page using the hub with the app session cookie (Chromium)', { timeout: 60_000 }, () => {
  it('cannot publish with a text/plain form POST', async () => {
    const before = await stored('user.alice');
    await page.evaluate((hub) => {
      const frame = document.createElement('iframe');
      frame.name = 'sink';
      document.body.append(frame);
      const form = document.createElement('form');
      form.method = 'POST';
      form.enctype = 'text/plain';
      form.action = `${hub}/pub/user.alice`;
      form.target = 'sink';
      const input = document.createElement('input');
      input.name = '{"forged":"';
      input.value = 'yes"}';
      form.append(input);
      document.body.append(form);
      form.submit();
    }, hubUrl);
    await waitFor(() => arrivedWithCookie('/pub/user.alice'), 10_000, 'the form POST with the cookie');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await stored('user.alice'), before);
  });

  it('cannot read the private channel (last=5) through a JSONP script', async () => {
    const got = await page.evaluate(
      (hub) =>
        new Promise<string>((resolve) => {
          (globalThis as unknown as Record<string, unknown>).steal = (v: unknown) =>
            resolve(JSON.stringify(v));
          const s = document.createElement('script');
          s.src = `${hub}/sub/user.alice?callback=steal&mode=poll&last=5`;
          s.onerror = () => resolve('script error');
          document.head.append(s);
        }),
      hubUrl,
    );
    assert.ok(arrivedWithCookie('/sub/user.alice?callback=steal'), 'the script request carried the cookie');
    assert.ok(!got.includes('alice private'), got);
    assert.match(got, /ERR_FORBIDDEN/);
  });

  it('cannot open a WebSocket on the private channel, nor use the cookie from a public one', async () => {
    const before = await stored('user.alice');
    const r = await page.evaluate(
      (hub) =>
        new Promise<{ privateFrames: string[]; privateOpened: boolean; answers: string[] }>((resolve) => {
          const ws = hub.replace('http', 'ws');
          const privateFrames: string[] = [];
          let privateOpened = false;
          const priv = new WebSocket(`${ws}/sub/user.alice?last=5`);
          priv.onopen = () => {
            privateOpened = true;
            // Long enough for a replay to arrive; then go on to the public channel.
            setTimeout(() => priv.close(), 500);
          };
          priv.onmessage = (e) => privateFrames.push(String(e.data));
          priv.onclose = () => {
            const answers: string[] = [];
            const lobby = new WebSocket(`${ws}/sub/pub.lobby`);
            lobby.onmessage = (e) => {
              const m = JSON.parse(String(e.data));
              if (m.event === 'open') {
                lobby.send(JSON.stringify({ type: 'publish', id: 1, channel: 'user.alice', data: 'forged' }));
                lobby.send(JSON.stringify({ type: 'subscribe', id: 2, channels: ['user.alice'] }));
              } else if (m.id === 1 || m.id === 2) {
                answers.push(String(e.data));
                if (answers.length === 2) {
                  lobby.close();
                  resolve({ privateFrames, privateOpened, answers });
                }
              }
            };
          };
        }),
      hubUrl,
    );
    assert.ok(arrivedWithCookie('/sub/user.alice?last=5'), 'the upgrade carried the cookie');
    assert.equal(r.privateOpened, false);
    assert.ok(!r.privateFrames.join().includes('alice private'));
    for (const a of r.answers) assert.match(a, /"type":"error".*ERR_CSRF/);
    assert.equal(await stored('user.alice'), before);
  });

  it('cannot publish with an image ping or a JSONP publish', async () => {
    await page.evaluate((hub) => {
      new Image().src = `${hub}/ping/img.alice?k=forged`;
      const s = document.createElement('script');
      s.src = `${hub}/pub/jp.alice?callback=cb&data=forged`;
      document.head.append(s);
    }, hubUrl);
    await waitFor(
      () => arrivedWithCookie('/ping/img.alice') && arrivedWithCookie('/pub/jp.alice'),
      10_000,
      'the ping and the JSONP publish with the cookie',
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await stored('img.alice'), 0);
    assert.equal(await stored('jp.alice'), 0);
  });

  it("the hub's own page publishes with the cookie and X-Cometa, though cors.origins lists only another site", async () => {
    const ownUrl = `http://localhost:${own.port}`;
    const mine = await context.newPage();
    try {
      await mine.goto(`${ownUrl}/healthz`);
      const r = await mine.evaluate(async (hub) => {
        const post = (headers: Record<string, string>) =>
          fetch(`${hub}/pub/user.alice`, { method: 'POST', headers, body: 'from my page' }).then(
            async (res) => ({
              status: res.status,
              body: await res.text(),
            }),
          );
        return { withHeader: await post({ 'X-Cometa': '1' }), without: await post({}) };
      }, ownUrl);
      assert.equal(r.withHeader.status, 202, r.withHeader.body);
      // Same-origin, with the cookie, but without the header a form could not send either.
      assert.equal(r.without.status, 403);
      assert.match(r.without.body, /ERR_CSRF/);
      assert.equal((await own.hub.info('user.alice')).stored, 1);
    } finally {
      await mine.close();
    }
  });
});
