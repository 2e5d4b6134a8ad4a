// What idempotency keys cost the memory store: a key outlives its message (it answers retries for
// the whole window), so keys are counted against `memory?maxBytes` like the messages, and tiny
// publishes with long keys cannot hold memory past the bound.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startHub, type TestHub } from '../helpers/hub.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MAX = 1 << 20;
const keyOf = (i: number) => String(i).padStart(8, '0').padEnd(255, 'k');

async function keyedPublish(
  url: string,
  channel: string,
  key: string,
): Promise<{ status: number; body: { id: string; duplicate?: true } }> {
  const res = await fetch(`${url}/pub/${channel}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: '1',
  });
  return { status: res.status, body: (await res.json()) as { id: string; duplicate?: true } };
}

describe('idempotency keys on the memory store with maxBytes', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ store: `memory?maxBytes=${MAX}`, limits: { publishRatePerIp: 0 } });
  });
  after(() => t.close());

  it('a hub on memory?maxBytes starts and deduplicates over HTTP', async () => {
    const first = await keyedPublish(t.url, 'bound.a', keyOf(0));
    const again = await keyedPublish(t.url, 'bound.a', keyOf(0));
    assert.equal(first.status, 202);
    assert.equal(again.status, 202);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.body.duplicate, true);
  });

  it('100,000 tiny publishes with 255-character keys stay within the bound', async () => {
    const store = t.hub.core.store as unknown as { bytes: number };
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 1; i <= 100_000; i++) await t.hub.publishOnce(`bound.c${i % 5000}`, 1, { key: keyOf(i) });
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(store.bytes <= MAX, `store counts ${store.bytes} bytes`);
    assert.ok(grown < 16 << 20, `heap grew ${(grown / 1048576).toFixed(1)} MiB over a bound of 1 MiB`);
    // The newest keys still answer retries.
    const last = await keyedPublish(t.url, 'bound.c0', keyOf(100_000));
    assert.equal(last.body.duplicate, true);
  });
});

describe('idempotency keys on the SQLite store with a disk quota', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-idem-quota-'));
  let t: TestHub;
  before(async () => {
    t = await startHub({
      store: `sqlite:${join(dir, 'hub.db')}?maxBytes=${4 * MAX}`,
      limits: { publishRatePerIp: 0 },
    });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('20,000 one-byte publishes with 255-character keys keep the database within its quota', async () => {
    const store = t.hub.core.store as unknown as { usedBytes: number };
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 20_000; i++) {
      pending.push(t.hub.publishOnce(`quota.c${i % 5000}`, 1, { key: keyOf(i) }));
      if (pending.length === 200) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    assert.ok(store.usedBytes <= 4 * MAX, `the database uses ${store.usedBytes} bytes of a ${4 * MAX} quota`);
    const last = await keyedPublish(t.url, 'quota.c4999', keyOf(19_999));
    assert.equal(last.body.duplicate, true, 'the newest keys still answer retries');
  });
});
