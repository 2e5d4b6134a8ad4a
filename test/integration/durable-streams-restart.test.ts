/**
 * Durable Streams on the SQLite store survive `kill -9`: a hub process is killed while a producer
 * appends and a @durable-streams/client long-poll tail reads, then started again on the same port
 * and file. Every acknowledged append is there, retries of unacknowledged ones are deduplicated by
 * the idempotent producer state (committed with the data), and the tail sees each item once.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DurableStream } from '@durable-streams/client';
import { sleep, waitFor } from '../helpers/hub.js';
import { type HubProcess, spawnHub } from '../helpers/hub-process.js';

describe('Durable Streams on SQLite: kill -9 and restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-ds-restart-'));
  let hub: HubProcess | undefined;
  after(async () => {
    await hub?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test('acknowledged appends and producer state survive; the tail gets every item exactly once', async () => {
    // No publish rate limit: the writer appends back to back (the limit has its own test).
    hub = await spawnHub(['--store', `sqlite:${join(dir, 'cometa.db')}`, '--publish-rate-per-ip', '0']);
    const h = hub;
    const url = `${h.url}/v1/stream/restart/answer`;
    await DurableStream.create({ url, contentType: 'application/json', warnOnHttp: false });

    // The reader: the client's long-poll tail, resumed from its last offset when a session fails.
    const items: number[] = [];
    let at = '-1';
    let stopped = false;
    const ac = new AbortController();
    const reading = (async () => {
      while (!stopped) {
        try {
          const ds = new DurableStream({ url, contentType: 'application/json', warnOnHttp: false });
          const res = await ds.stream<number>({
            live: 'long-poll',
            offset: at,
            signal: ac.signal,
            warnOnHttp: false,
          });
          res.subscribeJson<number>((batch) => {
            for (const item of batch.items) items.push(item);
            at = batch.offset;
          });
          await res.closed;
        } catch {
          // hub down: try again from `at`
        }
        if (!stopped) await sleep(50);
      }
    })();

    // The writer: one idempotent producer; an append is retried with the same seq until it is
    // acknowledged (200 new, 204 duplicate), across the kill.
    const append = async (seq: number): Promise<number> => {
      for (;;) {
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'producer-id': 'answer-writer',
              'producer-epoch': '0',
              'producer-seq': String(seq),
            },
            body: JSON.stringify(seq),
          });
          await res.arrayBuffer();
          if (res.status === 200 || res.status === 204) return res.status;
          throw new Error(`append ${seq} answered ${res.status}`);
        } catch (err) {
          if (err instanceof Error && err.message.startsWith('append')) throw err;
          await sleep(50);
        }
      }
    };

    const total = 400;
    let restarted: Promise<void> | undefined;
    for (let seq = 0; seq < total; seq++) {
      if (seq === 150) {
        // Kill while appends are in flight: this one and the next few race the kill.
        void append(seq);
        await h.kill();
        restarted = h.start();
        await append(seq);
        continue;
      }
      await append(seq);
    }
    await restarted;
    await waitFor(() => items.length >= total, 20_000, `all ${total} items through the restart`);
    await sleep(300);
    stopped = true;
    ac.abort();
    await reading;
    assert.deepEqual(
      items,
      Array.from({ length: total }, (_, i) => i),
    );

    // And once more from a cold process: everything is on disk.
    await h.kill();
    await h.start();
    const all = await fetch(`${url}?offset=-1`);
    assert.deepEqual(
      await all.json(),
      Array.from({ length: total }, (_, i) => i),
    );
    // The producer's state came back with the data: a late retry is a duplicate.
    const retry = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'producer-id': 'answer-writer',
        'producer-epoch': '0',
        'producer-seq': String(total - 1),
      },
      body: JSON.stringify(total - 1),
    });
    assert.equal(retry.status, 204);
  });
});
