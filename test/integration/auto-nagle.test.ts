/**
 * tcpNoDelay: 'auto' (the default; src/hub/nagle.ts): a hub whose event loop is busy turns Nagle on
 * for every open stream and WebSocket, and for those opened meanwhile, then turns TCP_NODELAY back
 * on once it is quiet. Real hub (mounted on an app server, so the test sees its sockets), real
 * sockets; the busy loop is real CPU in the hub's process.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { createHub } from '../../src/hub/index.js';
import { NAGLE_WINDOW_MS } from '../../src/hub/nagle.js';
import { publish, waitFor } from '../helpers/hub.js';
import { openSubscription } from '../helpers/transport-clients.js';

/** What a socket last asked the kernel for: Node keeps it under its kSetNoDelay symbol. */
function noDelayOf(socket: Socket): boolean | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  return key === undefined ? undefined : (socket as unknown as Record<symbol, boolean | undefined>)[key];
}

/** Keeps the event loop busy for `ms`, yielding every 20 ms so the hub's sweep timer still runs. */
async function busy(ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const slice = performance.now() + 20;
    while (performance.now() < slice);
    await new Promise((r) => setImmediate(r));
  }
}

describe("tcpNoDelay: 'auto'", () => {
  it('is the default, and switches every stream and WebSocket with the load', async () => {
    const hub = createHub({ store: 'memory', logger: false });
    await hub.ready;
    const server = createServer((req, res) => hub.handler(req, res));
    server.on('upgrade', hub.upgrade);
    const sockets: Socket[] = [];
    server.on('connection', (s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const subs = [];
    /** The hub-side sockets of the subscriptions: the ones still open other than keep-alive publishes. */
    const streamSockets = () =>
      sockets.filter((s) => !s.destroyed && s.bytesWritten > 0 && noDelayOf(s) !== undefined);
    try {
      assert.equal(hub.options.tcpNoDelay, 'auto');
      assert.equal(hub.core.noDelay, true);
      subs.push(openSubscription('sse', url, ['n1']), openSubscription('websocket', url, ['n1']));
      await waitFor(() => hub.core.subscriberCount('n1') === 2, 5000, 'two subscribers');
      assert.deepEqual(
        streamSockets().map(noDelayOf),
        [true, true],
        'streams open with TCP_NODELAY while the hub is quiet',
      );

      await busy(NAGLE_WINDOW_MS * 2.5);
      await waitFor(() => hub.core.noDelay === false, 3000, 'Nagle on');
      assert.equal(hub.core.stats.nagleSwitches, 1);
      assert.deepEqual(streamSockets().map(noDelayOf), [false, false], 'every open stream switched');
      // A stream opened while the hub is busy starts with Nagle on, and delivery goes on.
      subs.push(openSubscription('stream', url, ['n1']));
      await waitFor(() => hub.core.subscriberCount('n1') === 3, 5000, 'third subscriber');
      await publish(url, 'n1', 'under load');
      for (const s of subs) await s.waitFor(1);
      const metricsBusy = await (await fetch(`${url}/metrics`)).text();
      assert.match(metricsBusy, /^cometa_tcp_nodelay 0$/m);
      const streams = sockets.filter((s) => !s.destroyed && noDelayOf(s) === false);
      assert.equal(streams.length, 3, 'the new stream opened with Nagle on');

      await waitFor(() => hub.core.noDelay === true, NAGLE_WINDOW_MS * 5, 'TCP_NODELAY back on');
      assert.equal(hub.core.stats.nagleSwitches, 2);
      for (const s of streams) assert.equal(noDelayOf(s), true);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /^cometa_nagle_switches_total 2$/m);
      assert.match(metrics, /^cometa_tcp_nodelay 1$/m);
    } finally {
      for (const s of subs) s.close();
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('leaves a fixed true or false alone however busy the hub is', async () => {
    for (const tcpNoDelay of [true, false]) {
      const hub = createHub({ store: 'memory', logger: false, tcpNoDelay });
      await hub.ready;
      try {
        await busy(NAGLE_WINDOW_MS * 1.5);
        assert.equal(hub.core.noDelay, tcpNoDelay);
        assert.equal(hub.core.stats.nagleSwitches, 0);
      } finally {
        await hub.close();
      }
    }
  });
});
