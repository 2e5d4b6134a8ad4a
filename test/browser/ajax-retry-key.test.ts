// A retried cross-origin POST from real Chromium, with cometa/client adding the Idempotency-Key
// itself: the page (http://127.0.0.1:A) publishes to a hub reached as http://localhost:B through a
// proxy that forwards the first POST but cuts the connection instead of passing its answer back.
// The hub stored that message; the client (or Chromium, which resends a request cut on a reused
// connection) sends it again with the same key, and the hub stores it once. The preflight asks
// for the header and the hub's default CORS allow-list lets it through.
import assert from 'node:assert/strict';
import { createServer as createHttp, type Server } from 'node:http';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { build } from 'esbuild';
import { launchBrowser, type TestBrowser, type TestPage } from '../helpers/browser.js';
import { startHub, type TestHub } from '../helpers/hub.js';

let hub: TestHub;
let pages: Server;
let proxy: NetServer;
let browser: TestBrowser;
let page: TestPage;
let hubURL = '';
const sockets = new Set<Socket>();
/** The request lines and headers the proxy saw, one string per request head. */
const heads: string[] = [];
let cut = false;

before(async () => {
  // The browser build of the client, bundled from src/client (dist/ may be rebuilt meanwhile).
  const out = await build({
    entryPoints: ['src/client/browser.ts'],
    bundle: true,
    format: 'iife',
    globalName: 'cometa',
    platform: 'browser',
    target: ['es2019'],
    write: false,
    logLevel: 'silent',
  });
  const bundle = out.outputFiles[0]?.text ?? '';
  pages = createHttp((req, res) => {
    if (req.url === '/cometa.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>page</title>');
  });
  await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(pages.address() as { port: number }).port}`;
  hub = await startHub({ cors: { origins: [origin] } });

  proxy = createServer((client) => {
    sockets.add(client);
    const upstream = connect(hub.port, '127.0.0.1');
    sockets.add(upstream);
    let cutting = false;
    client.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      if (/^[A-Z]+ \//.test(text)) {
        heads.push(text.split('\r\n\r\n')[0] ?? '');
        if (!cut && text.startsWith('POST ')) cut = cutting = true;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (cutting) client.destroy();
      else client.write(d);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  hubURL = `http://localhost:${(proxy.address() as { port: number }).port}`;

  browser = await launchBrowser();
  page = await browser.open(`${origin}/`, { scripts: [`${origin}/cometa.js`] });
});

after(async () => {
  await browser?.close();
  proxy?.close();
  for (const s of sockets) s.destroy();
  pages?.closeAllConnections();
  pages?.close();
  await hub?.close();
});

test('a cross-origin POST retried after a lost answer is stored once, with a key the client added', async () => {
  const r = await page.evaluate(async (u) => {
    const res = await cometa.post(
      `${u}/pub/orders`,
      { n: 1 },
      { retry: { limit: 2, methods: ['POST'], delay: 10 } },
    );
    return { status: res.status, id: (res.data as { id: string }).id };
  }, hubURL);
  assert.equal(r.status, 202);
  assert.ok(cut, 'the first answer was lost');
  const info = (await (await fetch(`${hub.url}/pub/orders`)).json()) as { stored: number };
  assert.equal(info.stored, 1, `stored once; the proxy saw:\n${heads.join('\n\n')}`);
  // The preflight asked for the header, and every POST carried the same key.
  const preflight = heads.find((h) => h.startsWith('OPTIONS /pub/orders'));
  assert.match(preflight ?? '', /access-control-request-headers: [^\r]*idempotency-key/i);
  const keys = heads
    .filter((h) => h.startsWith('POST /pub/orders'))
    .map((h) => /\r\nidempotency-key: ([^\r]+)/i.exec(h)?.[1]);
  assert.ok(keys.length >= 2, `sent ${keys.length} times`);
  assert.ok(keys[0] && keys.every((k) => k === keys[0]), `keys: ${keys.join(', ')}`);
});
