/**
 * When the store loses its history (a new epoch, e.g. Redis restarted empty), every live
 * subscriber gets one `gap` per channel, on every transport, then continues in the new epoch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore, type Store, type StoreContext, type StoreEvent } from '../../src/hub/index.js';
import type { GapData } from '../../src/protocol/envelope.js';
import { publish, startHub, waitFor } from '../helpers/hub.js';
import { type DriverName, openSubscription } from '../helpers/transport-clients.js';

/**
 * A store that really loses its history, as a Redis without persistence does when restarted:
 * a real MemoryStore inside, replaced by an empty one (new epoch, seq from 1) on `forget()`.
 */
class ForgetfulStore implements Store {
  readonly kind = 'memory';
  #inner: MemoryStore;
  #emit: (e: StoreEvent) => void = () => {};
  readonly #ctx: StoreContext;
  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    this.#inner = new MemoryStore(ctx);
  }
  get epoch(): string {
    return this.#inner.epoch;
  }
  async forget(): Promise<void> {
    this.#inner = new MemoryStore(this.#ctx);
    await this.#inner.open();
    this.#inner.listen(this.#emit);
    this.#emit({ type: 'epoch', epoch: this.#inner.epoch });
  }
  open = () => this.#inner.open();
  head = () => this.#inner.head();
  append = (c: string, e: string, d: unknown, t: number) => this.#inner.append(c, e, d, t);
  read = (c: readonly string[], a: number, l: number) => this.#inner.read(c, a, l);
  last = (c: readonly string[], n: number) => this.#inner.last(c, n);
  info = (c: string) => this.#inner.info(c);
  drop = (c: string) => this.#inner.drop(c);
  sweep = (now: number) => this.#inner.sweep(now);
  close = () => this.#inner.close();
  listen(listener: (e: StoreEvent) => void): void {
    this.#emit = listener;
    this.#inner.listen(listener);
  }
}

const DRIVERS: DriverName[] = ['websocket', 'sse', 'stream', 'longpoll', 'jsonp'];

describe('a store that loses its history', () => {
  for (const driver of DRIVERS) {
    it(`gives ${driver} subscribers a gap per channel, then the new epoch's messages`, async () => {
      const store = new ForgetfulStore({ retentionFor: () => ({ maxMessages: 100, maxAgeMs: 60_000 }) });
      const t = await startHub({ store });
      try {
        const s = openSubscription(driver, t.url, ['ep.a', 'ep.b', 'ep.c']);
        await waitFor(() => t.hub.core.subscriberCount('ep.a') > 0, 10_000);
        await publish(t.url, 'ep.a', 'before');
        await s.waitFor(1);
        // Polls: wait until the next poll is held, so the gaps reach a live subscriber (the case
        // that lost all but the first gap) rather than a fresh poll replaying from an old cursor.
        await waitFor(() => t.hub.core.subscriberCount('ep.a') > 0, 10_000);
        const old = s.cursor!;
        await store.forget();
        const epoch = store.epoch;
        const got = await s.waitFor(4);
        const gaps = got.filter((e) => e.event === 'gap');
        assert.deepEqual(
          gaps.map((g) => g.channel),
          ['ep.a', 'ep.b', 'ep.c'],
        );
        for (const g of gaps) {
          assert.equal((g.data as GapData).reason, 'epoch');
          assert.equal((g.data as GapData).since, old);
        }
        const id = await publish(t.url, 'ep.b', 'after');
        assert.equal(id, `${epoch}-1`, 'the new epoch starts over');
        const all = await s.waitFor(5);
        assert.equal(all[4]!.id, id);
        s.close();
      } finally {
        await t.close();
      }
    });
  }
});
