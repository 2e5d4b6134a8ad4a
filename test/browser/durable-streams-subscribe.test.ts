/**
 * A JSON-mode Durable Stream tailed with cometa/client's subscribe() in Chromium, on its channel
 * `ds.{path}`, each transport forced on its own: what is appended through the protocol arrives as
 * `{ offset, data }` in stream order, and when the hub drops the connection mid-tail the client
 * resumes from its cursor with nothing lost or repeated.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SubscribeTransport } from '../../src/client/index.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { launchBrowser, type TestBrowser, type TestPage } from '../helpers/browser.js';
import { cutAbruptly } from '../helpers/chaos.js';
import { startHub, type TestHub } from '../helpers/hub.js';

declare global {
  var dsRecs: Record<string, { got: Envelope[]; open: boolean; sub: { close(): void } }>;
}

const TRANSPORTS: SubscribeTransport[] = ['websocket', 'sse', 'stream', 'longpoll', 'jsonp'];

describe('a Durable Stream tailed with subscribe() in Chromium', () => {
  let t: TestHub;
  let browser: TestBrowser;
  let page: TestPage;
  before(async () => {
    t = await startHub({ heartbeatMs: 500 });
    browser = await launchBrowser();
    page = await browser.open(`${t.url}/healthz`, { scripts: [`${t.url}/cometa.js`] });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  for (const transport of TRANSPORTS) {
    it(`${transport}: every appended message once, in order, through two dropped connections`, async () => {
      const path = `answers/${transport}`;
      const channel = `ds.answers.${transport}`;
      const url = `${t.url}/v1/stream/${path}`;
      assert.equal(
        (await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' } })).status,
        201,
      );
      await page.evaluate(
        ([name, channel, transport]) => {
          globalThis.dsRecs ??= {};
          const rec = { got: [] as Envelope[], open: false, sub: { close() {} } };
          rec.sub = cometa.subscribe(location.origin, channel, {
            transports: [transport],
            minDelay: 50,
            onMessage: (e) => rec.got.push(e),
            onStatus: (s) => {
              if (s.state === 'open') rec.open = true;
            },
          });
          dsRecs[name] = rec;
        },
        [transport, channel, transport] as const,
      );
      await page.waitForFunction(`dsRecs[${JSON.stringify(transport)}].open`, null, { timeout: 10_000 });
      const offsets: string[] = [];
      const append = async (token: string) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(token),
        });
        assert.equal(res.status, 204);
        offsets.push(res.headers.get('stream-next-offset')!);
      };
      const tokens: string[] = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 4; i++) {
          tokens.push(`r${round}t${i} `);
          await append(tokens.at(-1)!);
        }
        for (const s of [...t.hub.core.subscribers]) {
          if (!s.channels.includes(channel)) continue;
          if (round === 1) cutAbruptly(s);
          else s.end('kicked');
        }
      }
      await page.waitForFunction(
        `dsRecs[${JSON.stringify(transport)}].got.length >= ${tokens.length}`,
        null,
        {
          timeout: 15_000,
          polling: 20,
        },
      );
      await new Promise((r) => setTimeout(r, 300));
      const got = await page.evaluate((name) => {
        const r = dsRecs[name]!;
        r.sub.close();
        return r.got;
      }, transport);
      assert.deepEqual(
        got.map((e) => (e.data as { data: string }).data),
        tokens,
      );
      assert.deepEqual(
        got.map((e) => (e.data as { offset: string }).offset),
        offsets,
      );
      assert.deepEqual(page.errors, []);
    });
  }
});
