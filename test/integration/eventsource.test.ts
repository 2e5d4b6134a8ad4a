/**
 * SSE judged by a WHATWG EventSource implementation that is not ours: undici's (the one Node itself
 * ships behind --experimental-eventsource). It dispatches exactly what a browser does, so a frame
 * named after one of the interface's own events (`open`, `error`) shows up as that event.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventSource } from 'undici';
import { publish, startHub, type TestHub, waitFor } from '../helpers/hub.js';

let t: TestHub;
before(async () => {
  t = await startHub({ heartbeatMs: 200, sseRetryMs: 100 });
});
after(() => t.close());

interface Seen {
  type: string;
  id: string;
  data: string;
}

/** An EventSource on `path` recording its opens, errors and the named events given. */
function watch(path: string, types: string[], init?: ConstructorParameters<typeof EventSource>[1]) {
  const es = new EventSource(`${t.url}${path}`, init);
  const opens: Event[] = [];
  const errors: Event[] = [];
  const got: Seen[] = [];
  es.onopen = (e) => opens.push(e);
  es.onerror = (e) => errors.push(e);
  for (const type of types) {
    es.addEventListener(type, (e) => {
      const m = e as MessageEvent<string>;
      got.push({ type, id: m.lastEventId, data: m.data });
    });
  }
  return { es, opens, errors, got };
}

describe("undici's EventSource", () => {
  it('fires onopen once per connection: the open frame is not named `open`', async () => {
    const w = watch('/sub/es.once', ['cometa.open', 'message']);
    try {
      await waitFor(() => w.opens.length > 0 && t.hub.core.subscriberCount('es.once') > 0, 5000, 'open');
      const id = await publish(t.url, 'es.once', 1);
      await waitFor(() => w.got.some((g) => g.type === 'message'), 5000, 'the message');
      assert.equal(w.opens.length, 1, 'onopen fired more than once');
      assert.ok(!(w.opens[0] instanceof MessageEvent), 'onopen got a MessageEvent (a frame named open)');
      assert.equal(w.errors.length, 0);
      const open = w.got.find((g) => g.type === 'cometa.open')!;
      assert.equal(JSON.parse(open.data).event, 'open');
      const msg = w.got.find((g) => g.type === 'message')!;
      assert.equal(msg.id, id);
      assert.equal(JSON.parse(msg.data).data, 1);
    } finally {
      w.es.close();
    }
  });

  it('with ?uniform=1 gets every frame as `message` and still opens once', async () => {
    const w = watch('/sub/es.uniform?uniform=1', ['message']);
    try {
      await waitFor(() => w.got.length >= 1, 5000, 'the open frame');
      await publish(t.url, 'es.uniform', 'x', 'score');
      await waitFor(() => w.got.length >= 2, 5000, 'the message');
      assert.deepEqual(
        w.got.map((g) => JSON.parse(g.data).event),
        ['open', 'score'],
      );
      assert.equal(w.opens.length, 1);
    } finally {
      w.es.close();
    }
  });

  it('resumes by itself with Last-Event-ID after the hub drops it, missing nothing', async () => {
    const w = watch('/sub/es.resume', ['cometa.open', 'score']);
    try {
      await waitFor(() => w.got.some((g) => g.type === 'cometa.open'), 5000, 'open');
      await publish(t.url, 'es.resume', 1, 'score');
      await waitFor(() => w.got.filter((g) => g.type === 'score').length === 1, 5000, 'first');
      for (const sub of [...t.hub.core.subscribers])
        if (sub.channels.includes('es.resume')) sub.end('kicked');
      const missed = await publish(t.url, 'es.resume', 2, 'score');
      await waitFor(() => w.got.filter((g) => g.type === 'score').length === 2, 10_000, 'the missed one');
      const scores = w.got.filter((g) => g.type === 'score');
      assert.deepEqual(
        scores.map((s) => JSON.parse(s.data).data),
        [1, 2],
      );
      assert.equal(scores[1]!.id, missed);
      // Two connections, so two opens: one each, never one per open frame.
      assert.equal(w.opens.length, 2);
      assert.equal(w.got.filter((g) => g.type === 'cometa.open').length, 2);
    } finally {
      w.es.close();
    }
  });
});
