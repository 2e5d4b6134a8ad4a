// What a presence member costs: a join is an event every watcher of the channel gets, as a
// publish is. Members named by what they say (`?member=` on an anonymous channel) cost nothing to
// make up, so their joins are held to the IP's publish rate.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { sleep, startHub, type TestHub } from '../helpers/hub.js';
import { openSubscription } from '../helpers/transport-clients.js';
import { settled } from '../helpers/transport-suite.js';

/** Opens an SSE subscription, waits for its first bytes, and closes it. */
function touch(port: number, path: string, agent: http.Agent): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => resolve());
  });
}

describe('presence: anonymous join storms', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({
      channels: [{ pattern: 'lobby.*', presence: 'anonymous' }],
      presence: { coalesceMs: 100 },
      limits: { publishRatePerIp: 20 },
      heartbeatMs: 100,
    });
  });
  after(() => t.close());

  it('one client reconnecting under new ?member names gets joins at the publish rate, not its reconnect rate', async () => {
    const watcher = openSubscription('sse', t.url, ['lobby.x'], { query: { presence: '1' } });
    await settled(t, watcher, 'lobby.x');
    const agent = new http.Agent({ keepAlive: false });
    const port = Number(new URL(t.url).port);
    const started = Date.now();
    let opened = 0;
    while (opened < 300 && Date.now() - started < 10_000) {
      await Promise.all(
        Array.from({ length: 10 }, () =>
          touch(port, `/sub/lobby.x?transport=sse&member=m${opened++}`, agent),
        ),
      );
    }
    const seconds = (Date.now() - started) / 1000;
    await sleep(500);
    watcher.close();
    const joins = watcher.envelopes.filter((e) => e.event === 'join').length;
    // A bucket holds 2 s of the rate (40) and refills at 20/s.
    const allowed = 40 + 20 * seconds + 5;
    assert.ok(joins <= allowed, `${joins} joins from ${opened} subscriptions in ${seconds.toFixed(1)} s`);
    assert.ok(joins >= 40, `the first ${joins} names joined`);
    agent.destroy();
  });
});
