/**
 * Publish bodies whose parse or later use costs more than their size says: JSON nested deeper than
 * `limits.maxJsonDepth` (which V8 parses, then no answer can serialize) and forms with more fields
 * than `limits.maxFields` (a third of a second of CPU per 1 MiB body). Refused before parsing, on
 * every way of publishing and on every store; the history around them stays readable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startHub, type TestHub } from '../helpers/hub.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
const DEEP = nested(20_000);

interface Answer {
  status: number;
  body: { error?: { code: string }; messages?: Array<{ data: unknown }> } & Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: { text } };
  }
}

/** Sends one WebSocket frame on a fresh socket and resolves with the hub's answer to it. */
function wsCommand(url: string, frame: string): Promise<{ type: string; error?: { code: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('error', reject);
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw));
      if (m.event === 'open') {
        ws.send(frame);
        return;
      }
      if (m.type === 'ack' || m.type === 'error') {
        ws.close();
        resolve(m);
      }
    });
  });
}

let redis: RedisServer;
const dir = mkdtempSync(join(tmpdir(), 'cometa-bounds-'));
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

for (const kind of ['memory', 'sqlite', 'redis'] as const) {
  describe(`JSON nested past limits.maxJsonDepth (${kind} store)`, () => {
    let t: TestHub;
    before(async () => {
      const store =
        kind === 'memory'
          ? 'memory'
          : kind === 'sqlite'
            ? `sqlite:${join(dir, 'h.db')}`
            : `${redis.url}?prefix=bounds:`;
      t = await startHub({
        store,
        channels: [{ pattern: 'deep.*', publishGet: true, ping: true }],
        limits: { publishRatePerIp: 0 },
      });
    });
    after(() => t.close());

    it('is refused with 400 ERR_JSON_TOO_DEEP on every way of publishing, and history stays readable', async () => {
      const ch = `deep.${kind}`;
      const ok = (v: unknown) =>
        call(`${t.url}/pub/${ch}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(v),
        });
      assert.equal((await ok({ n: 1 })).status, 202);
      const refusals: Array<[string, Promise<Answer>]> = [
        // The fast lane takes this one (no Origin, no credentials)...
        [
          'json',
          call(`${t.url}/pub/${ch}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: DEEP,
          }),
        ],
        // ...Node's path this one (an Origin is never the lane's).
        [
          'json via node',
          call(`${t.url}/pub/${ch}`, {
            method: 'POST',
            headers: { 'content-type': 'application/vnd.x+json', origin: 'https://app.example' },
            body: DEEP,
          }),
        ],
        [
          'text ?format=json',
          call(`${t.url}/pub/${ch}?format=json`, {
            method: 'POST',
            headers: { 'content-type': 'text/plain' },
            body: DEEP,
          }),
        ],
        [
          'objects',
          call(`${t.url}/pub/${ch}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`,
          }),
        ],
      ];
      for (const [what, p] of refusals) {
        const r = await p;
        assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body).slice(0, 200)}`);
        assert.equal(r.body.error?.code, 'ERR_JSON_TOO_DEEP', what);
      }
      // JSONP publish (GET ?data=&format=json) answers the error as script.
      const jsonp = await fetch(
        `${t.url}/pub/${ch}?callback=cb&format=json&data=${encodeURIComponent(nested(1000))}`,
      );
      assert.match(await jsonp.text(), /^\/\*\*\/cb\(\{"error":\{"code":"ERR_JSON_TOO_DEEP"/);
      // A beacon with a JSON body: refused (pings answer the same either way; nothing is stored).
      const refused = t.hub.core.stats.pingsRefused;
      const ping = await fetch(`${t.url}/ping/${ch}?format=json`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: `{"a":${nested(1000)}}`,
      });
      await ping.arrayBuffer();
      assert.equal(t.hub.core.stats.pingsRefused, refused + 1);
      // A WebSocket publish frame.
      const frame = await wsCommand(
        `${t.url.replace('http', 'ws')}/sub/${ch}`,
        `{"type":"publish","channel":"${ch}","data":${DEEP}}`,
      );
      assert.equal(frame.type, 'error');
      assert.equal(frame.error?.code, 'ERR_JSON_TOO_DEEP');

      // As deep as allowed is published, one more level is not (the bound is exact).
      assert.equal((await ok(JSON.parse(nested(64)))).status, 202);
      const over = await call(`${t.url}/pub/${ch}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: nested(65),
      });
      assert.equal(over.body.error?.code, 'ERR_JSON_TOO_DEEP');
      const wsOk = await wsCommand(
        `${t.url.replace('http', 'ws')}/sub/${ch}`,
        `{"type":"publish","channel":"${ch}","data":${nested(64)}}`,
      );
      assert.equal(wsOk.type, 'ack');
      assert.equal((await ok({ n: 2 })).status, 202);

      // Nothing refused was stored: history reads and resumes answer 200 with exactly these.
      for (const mode of ['poll', 'longpoll']) {
        const r = await call(`${t.url}/sub/${ch}?mode=${mode}&last=50&transport=${mode}`);
        assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 200));
        const data = (r.body.messages ?? []).map((m) => JSON.stringify(m.data));
        assert.deepEqual(data, ['{"n":1}', nested(64), nested(64), '{"n":2}']);
      }
    });
  });
}

describe('forms past limits.maxFields', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({
      channels: [{ pattern: 'f.*', ping: true }],
      limits: { publishRatePerIp: 0 },
    });
  });
  after(() => t.close());

  it('refuses a 110,000-field urlencoded body with 413 ERR_TOO_MANY_FIELDS, quickly, on both paths', async () => {
    const body = 'a=1&'.repeat(110_000);
    for (const headers of [{}, { origin: 'https://app.example' }]) {
      const cpu = process.cpuUsage();
      const r = await call(`${t.url}/pub/f.x`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
      const used = process.cpuUsage(cpu);
      assert.equal(r.status, 413);
      assert.equal(r.body.error?.code, 'ERR_TOO_MANY_FIELDS');
      // Hub and client share this process: sending 440 KB and refusing it, not parsing it (which
      // alone took ~0.2 s of CPU).
      const ms = (used.user + used.system) / 1000;
      assert.ok(ms < 100, `the refusal cost ${ms.toFixed(1)} ms of CPU`);
    }
    // The same through ?format=form.
    const text = await call(`${t.url}/pub/f.x?format=form`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body,
    });
    assert.equal(text.body.error?.code, 'ERR_TOO_MANY_FIELDS');
    // At the bound it is published.
    const fine = await call(`${t.url}/pub/f.x`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Array.from({ length: 1000 }, (_, i) => `k${i}=${i}`).join('&'),
    });
    assert.equal(fine.status, 202);
    const after = await call(`${t.url}/sub/f.x?mode=poll&last=5`);
    assert.equal(after.body.messages?.length, 1);
  });

  it('refuses a multipart body with more parts than limits.maxFields', async () => {
    const form = new FormData();
    for (let i = 0; i < 1001; i++) form.append(`k${i}`, 'v');
    const r = await call(`${t.url}/pub/f.y`, { method: 'POST', body: form });
    assert.equal(r.status, 413);
    assert.equal(r.body.error?.code, 'ERR_TOO_MANY_FIELDS');
    const ok = new FormData();
    for (let i = 0; i < 1000; i++) ok.append(`k${i}`, 'v');
    assert.equal((await call(`${t.url}/pub/f.y`, { method: 'POST', body: ok })).status, 202);
    // A beacon with too many fields publishes nothing.
    const refused = t.hub.core.stats.pingsRefused;
    const ping = await fetch(`${t.url}/ping/f.z`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1&'.repeat(2000),
    });
    await ping.arrayBuffer();
    assert.equal(t.hub.core.stats.pingsRefused, refused + 1);
  });

  it('validates both options at construction', async () => {
    const { createHub } = await import('../../src/hub/index.js');
    assert.throws(() => createHub({ logger: false, limits: { maxJsonDepth: 0 } }), /limits\.maxJsonDepth/);
    assert.throws(() => createHub({ logger: false, limits: { maxFields: -1 } }), /limits\.maxFields/);
  });
});
