// What a wildcard subscriber can make a publish cost: matching a channel against the subscribed
// patterns stays polynomial whatever the patterns (`**.**.**...` over a channel of many segments).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publish, startHub, type TestHub, waitFor } from '../helpers/hub.js';
import { openSubscription } from '../helpers/transport-clients.js';
import { settled } from '../helpers/transport-suite.js';

describe('wildcard subscriptions: the cost of matching a publish', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ heartbeatMs: 100 });
  });
  after(() => t.close());

  it('a subscriber to **.**.**.**.**.**.**.**.zz does not stall a publish to a 40-segment channel', async () => {
    const pattern = `${Array(8).fill('**').join('.')}.zz`;
    const sub = openSubscription('sse', t.url, [pattern]);
    const watcher = openSubscription('sse', t.url, ['w.x']);
    try {
      await settled(t, watcher, 'w.x');
      const long = Array(40).fill('a').join('.');
      const started = Date.now();
      await publish(t.url, long, 1);
      await publish(t.url, `${long}.zz`, 2);
      await waitFor(() => sub.envelopes.some((e) => e.data === 2), 30_000, 'delivery to the pattern');
      const took = Date.now() - started;
      assert.ok(took < 1000, `two publishes matched in ${took} ms`);
      assert.deepEqual(
        sub.envelopes.filter((e) => e.id !== null).map((e) => e.data),
        [2],
      );
    } finally {
      sub.close();
      watcher.close();
    }
  });
});
