/**
 * The hub mounted in apps whose body parsers run first, as a new user writes them: Express with
 * `app.use(express.json())` before `app.use(hub.handler)` (and urlencoded, text, raw), and a
 * Fastify route that hands a parsed request to the hub. Every publish is answered at once: with
 * the body the framework parsed when the hub can publish it as sent, or with an error that says
 * what to change; never left waiting for bytes that were already read.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { type Logger, pino } from 'pino';
import { createHub, type Hub } from '../../src/hub/index.js';

const open: Array<() => Promise<void>> = [];
after(async () => {
  for (const close of open) await close();
});

/** An Express app on an ephemeral port with `setup` deciding the middleware order. */
async function expressApp(
  setup: (app: express.Express, hub: Hub) => void,
  maxBodyBytes = 1 << 20,
  logger: Logger | false = false,
) {
  const hub = createHub({
    store: 'memory',
    logger,
    prefix: '/live',
    limits: { maxBodyBytes },
    channels: [{ pattern: 'p.**', ping: true }],
  });
  await hub.ready;
  const app = express();
  setup(app, hub);
  const server: Server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  open.push(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { hub, url };
}

/** POSTs with a deadline: a hub waiting for consumed bytes fails here instead of hanging. */
async function post(url: string, body: string, type: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': type },
    body,
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: (await res.json()) as { error: { code: string; message: string } } };
}

/** The data of the newest message on `channel`. */
async function stored(url: string, channel: string): Promise<unknown> {
  const res = await fetch(`${url}/live/sub/${channel}?mode=poll&last=1`);
  const body = (await res.json()) as { messages: Array<{ data: unknown }> };
  assert.equal(body.messages.length, 1);
  return body.messages[0]!.data;
}

describe('Express: body parsers mounted before hub.handler', () => {
  it('express.json(): the parsed value is published as sent', async () => {
    const { url } = await expressApp((app, hub) => {
      app.use(express.json());
      app.use(hub.handler);
    });
    const value = { n: 1.5, s: 'x', list: [null, true, { deep: 'y' }], big: 12345678901234 };
    const r = await post(`${url}/live/pub/j.a`, JSON.stringify(value), 'application/json');
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(await stored(url, 'j.a'), value);
  });

  it('express.urlencoded(): flat fields as the hub parses them; nested fields refused at once', async () => {
    for (const extended of [false, true]) {
      const { url } = await expressApp((app, hub) => {
        app.use(express.urlencoded({ extended }));
        app.use(hub.handler);
      });
      const r = await post(`${url}/live/pub/u.a`, 'a=1&b=x%20y&a=2', 'application/x-www-form-urlencoded');
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.deepEqual(await stored(url, 'u.a'), { a: ['1', '2'], b: 'x y' });
      if (extended) {
        const nested = await post(`${url}/live/pub/u.b`, 'o[k]=1', 'application/x-www-form-urlencoded');
        assert.equal(nested.status, 500);
        assert.equal(nested.body.error.code, 'ERR_BODY_CONSUMED');
        assert.match(nested.body.error.message, /mount hub\.handler before any body parser/);
      }
    }
  });

  it('express.text() and express.raw(): the kept text or bytes are parsed by the hub (?format= too)', async () => {
    const { url } = await expressApp((app, hub) => {
      app.use(express.text());
      app.use(express.raw({ type: 'application/json' }));
      app.use(hub.handler);
    });
    let r = await post(`${url}/live/pub/t.a`, 'plain words', 'text/plain');
    assert.equal(r.status, 202);
    assert.equal(await stored(url, 't.a'), 'plain words');
    r = await post(`${url}/live/pub/t.b?format=json`, '{"x":[1]}', 'text/plain');
    assert.equal(r.status, 202);
    assert.deepEqual(await stored(url, 't.b'), { x: [1] });
    r = await post(`${url}/live/pub/t.c`, '{"y":2}', 'application/json');
    assert.equal(r.status, 202);
    assert.deepEqual(await stored(url, 't.c'), { y: 2 });
    r = await post(`${url}/live/pub/t.d`, '{"y":', 'application/json');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'ERR_BAD_BODY');
  });

  it('a raw body the app kept (verify → req.rawBody) is preferred to the parsed value', async () => {
    const { url } = await expressApp((app, hub) => {
      app.use(
        express.json({
          verify: (req, _res, buf) => {
            (req as { rawBody?: Buffer }).rawBody = Buffer.from(buf);
          },
        }),
      );
      app.use(hub.handler);
    });
    // JSON.parse of the raw text and the framework's value agree; the raw text wins either way.
    const r = await post(`${url}/live/pub/r.a`, '{"a":1,"a":2}', 'application/json');
    assert.equal(r.status, 202);
    assert.deepEqual(await stored(url, 'r.a'), { a: 2 });
  });

  it('a parsed value nested past the stack is refused 400, nothing stored', async () => {
    const { url } = await expressApp((app, hub) => {
      app.use(express.json({ limit: '1mb' }));
      app.use(hub.handler);
    });
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const r = await post(`${url}/live/pub/d.a`, deep, 'application/json');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'ERR_BAD_BODY');
    const info = (await (await fetch(`${url}/live/pub/d.a`)).json()) as { stored: number };
    assert.equal(info.stored, 0);
  });

  it('limits.maxJsonDepth and limits.maxFields apply to what the framework parsed', async () => {
    const { url } = await expressApp((app, hub) => {
      app.use(express.json());
      app.use(express.urlencoded({ extended: false, parameterLimit: 5000 }));
      app.use(hub.handler);
    });
    const deep = `${'['.repeat(65)}${']'.repeat(65)}`;
    const r = await post(`${url}/live/pub/d.b`, deep, 'application/json');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'ERR_JSON_TOO_DEEP');
    const fields = Array.from({ length: 999 }, (_, i) => `f${i}=1`).join('&');
    assert.equal(
      (await post(`${url}/live/pub/d.c`, `${fields}&f0=2`, 'application/x-www-form-urlencoded')).status,
      202,
    );
    const many = await post(`${url}/live/pub/d.c`, `${fields}&a=1&b=2`, 'application/x-www-form-urlencoded');
    assert.equal(many.status, 413);
    assert.equal(many.body.error.code, 'ERR_TOO_MANY_FIELDS');
  });

  it('the hub byte bound still applies to a body the framework read', async () => {
    const { url } = await expressApp((app, hub) => {
      app.use(express.json({ limit: '1mb' }));
      app.use(hub.handler);
    }, 100);
    const r = await post(`${url}/live/pub/b.a`, JSON.stringify({ s: 'x'.repeat(200) }), 'application/json');
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, 'ERR_BODY_TOO_LARGE');
  });

  it('a body some other middleware consumed is refused at once, saying what to change, and logged', async () => {
    const logged: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(line) });
    const { url } = await expressApp(
      (app, hub) => {
        app.use((req, _res, next) => {
          req.resume();
          req.on('end', () => next());
        });
        app.use(hub.handler);
      },
      1 << 20,
      logger,
    );
    const r = await post(`${url}/live/pub/c.a`, '{"a":1}', 'application/json');
    assert.equal(r.status, 500);
    assert.equal(r.body.error.code, 'ERR_BODY_CONSUMED');
    assert.ok(
      logged.some((l) => l.includes('mount hub.handler before body parsers')),
      logged.join(''),
    );
  });

  it('beacon pings with express.urlencoded() first publish their fields', async () => {
    const { url } = await expressApp((app, hub) => {
      app.use(express.urlencoded({ extended: false }));
      app.use(hub.handler);
    });
    const res = await fetch(`${url}/live/ping/p.a?q=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'k=v',
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.status, 204);
    assert.deepEqual(await stored(url, 'p.a'), { q: '1', k: 'v' });
  });

  it('hub.handler before the parsers (the documented order) still reads the body itself', async () => {
    const { url } = await expressApp((app, hub) => {
      app.use(hub.handler);
      app.use(express.json());
    });
    const r = await post(`${url}/live/pub/o.a`, '{"z":[3]}', 'application/json');
    assert.equal(r.status, 202);
    assert.deepEqual(await stored(url, 'o.a'), { z: [3] });
  });
});

describe('Fastify: the hub in an onRequest hook and in a route after parsing', () => {
  async function fastifyApp(inRoute: boolean) {
    const hub = createHub({ store: 'memory', logger: false, prefix: '/live' });
    await hub.ready;
    const app = Fastify();
    const hand = (raw: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) =>
      hub.handler(raw, res);
    if (inRoute) {
      // After Fastify's content-type parsers ran: the raw stream is consumed.
      app.all('/live/*', (request, reply) => {
        reply.hijack();
        if (request.headers['x-pass-body'] === '1') (request.raw as { body?: unknown }).body = request.body;
        hand(request.raw, reply.raw);
      });
    } else {
      app.addHook('onRequest', (request, reply, done) => {
        if (!request.url.startsWith('/live/')) return done();
        reply.hijack();
        hand(request.raw, reply.raw);
      });
    }
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    open.push(async () => {
      await hub.close();
      await app.close();
    });
    return { url };
  }

  it('onRequest (before parsing): JSON and text publish', async () => {
    const { url } = await fastifyApp(false);
    let r = await post(`${url}/live/pub/f.a`, '{"a":[1]}', 'application/json');
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(await stored(url, 'f.a'), { a: [1] });
    r = await post(`${url}/live/pub/f.b`, 'hi', 'text/plain');
    assert.equal(r.status, 202);
    assert.equal(await stored(url, 'f.b'), 'hi');
  });

  it('a route after parsing: answered at once with ERR_BODY_CONSUMED, or published when the app passes request.body', async () => {
    const { url } = await fastifyApp(true);
    const r = await post(`${url}/live/pub/f.c`, '{"a":1}', 'application/json');
    assert.equal(r.status, 500);
    assert.equal(r.body.error.code, 'ERR_BODY_CONSUMED');
    assert.match(r.body.error.message, /onRequest/);
    const passed = await fetch(`${url}/live/pub/f.d`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-pass-body': '1' },
      body: '{"b":[2,"x"]}',
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(passed.status, 202);
    assert.deepEqual(await stored(url, 'f.d'), { b: [2, 'x'] });
    const text = await fetch(`${url}/live/pub/f.e`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-pass-body': '1' },
      body: 'words',
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(text.status, 202);
    assert.equal(await stored(url, 'f.e'), 'words');
  });
});
