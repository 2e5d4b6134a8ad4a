// The policy of tcpNoDelay: 'auto' (src/hub/nagle.ts): hysteresis between its two thresholds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AutoNagle,
  NAGLE_OFF_UTILIZATION,
  NAGLE_ON_UTILIZATION,
  NAGLE_WINDOW_MS,
} from '../../src/hub/nagle.js';

describe('AutoNagle', () => {
  it('turns Nagle on at the high threshold and off only under the low one', () => {
    const n = new AutoNagle(0);
    assert.equal(n.active, false);
    assert.equal(n.apply(NAGLE_ON_UTILIZATION - 0.01), false);
    assert.equal(n.active, false);
    assert.equal(n.apply(NAGLE_ON_UTILIZATION), true);
    assert.equal(n.active, true);
    // In between, the mode stays where it is (no flapping around one threshold).
    assert.equal(n.apply((NAGLE_ON_UTILIZATION + NAGLE_OFF_UTILIZATION) / 2), false);
    assert.equal(n.apply(NAGLE_OFF_UTILIZATION), false);
    assert.equal(n.active, true);
    assert.equal(n.apply(NAGLE_OFF_UTILIZATION - 0.01), true);
    assert.equal(n.active, false);
    assert.equal(n.apply((NAGLE_ON_UTILIZATION + NAGLE_OFF_UTILIZATION) / 2), false);
    assert.equal(n.active, false);
  });

  it('measures the event loop once per window', async () => {
    // Event-loop utilization reads zero until the loop has turned once (Node 24 may run this
    // test before it has), so the window starts inside the running loop, as the hub's does.
    await new Promise((resolve) => setImmediate(resolve));
    const t0 = Date.now();
    const n = new AutoNagle(t0);
    // Busy for the whole window: the loop never idles while this spins.
    const end = performance.now() + NAGLE_WINDOW_MS * 0.2;
    while (performance.now() < end);
    assert.equal(n.sample(t0 + NAGLE_WINDOW_MS - 1), false, 'the window is not over');
    assert.equal(n.sample(t0 + NAGLE_WINDOW_MS), true, 'a window of busy loop turns Nagle on');
    assert.equal(n.active, true);
  });
});
