// Operations and demo plumbing against a real hub: /metrics (Prometheus text, a registry per hub),
// the stats channel behind the dashboard, the simulated feed, and the demo-only routes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DemoFeed, FEED_CHANNELS, type Quote, type ScoreUpdate } from '../../src/hub/demo-feed.js';
import { STATS_CHANNEL, type StatsSnapshot } from '../../src/hub/stats-publisher.js';
import { publish, sleep, startHub, type TestHub, waitFor } from '../helpers/hub.js';

const hubs: TestHub[] = [];
after(async () => {
  await Promise.all(hubs.map((h) => h.close()));
});
async function hub(options: Parameters<typeof startHub>[0] = {}): Promise<TestHub> {
  const h = await startHub(options);
  hubs.push(h);
  return h;
}

/** Parses Prometheus text into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(h: TestHub): Promise<Map<string, number>> {
  const res = await fetch(`${h.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

/** An SSE stream collecting text. */
function sse(url: string) {
  let text = '';
  let done = false;
  const req = get(url, { headers: { accept: 'text/event-stream' } }, (res) => {
    res.on('data', (d: Buffer) => {
      text += d;
    });
    res.on('close', () => {
      done = true;
    });
  });
  req.on('error', () => {
    done = true;
  });
  return {
    text: () => text,
    ended: () => done,
    close: () => req.destroy(),
  };
}

describe('/metrics', () => {
  test('counts connections by transport, publishes, deliveries, gaps and latency', async () => {
    const h = await hub({ retention: { maxMessages: 2 } });
    const a = sse(`${h.url}/sub/m.one`);
    const b = sse(`${h.url}/sub/m.one,m.two?transport=stream`);
    await waitFor(
      () => a.text().includes('event: cometa.open') && b.text().includes('"open"'),
      5000,
      'streams open',
    );
    const held = fetch(`${h.url}/sub/m.two?transport=longpoll&timeout=5`);
    await waitFor(() => (h.hub.core.connections().longpoll ?? 0) === 1, 5000, 'long-poll held');
    let m = await scrape(h);
    assert.equal(m.get('cometa_connections{transport="sse"}'), 1);
    assert.equal(m.get('cometa_connections{transport="stream"}'), 1);
    assert.equal(m.get('cometa_connections{transport="longpoll"}'), 1);
    assert.equal(m.get('cometa_connections{transport="websocket"}'), 0, 'every transport has a series');
    assert.equal(m.get('cometa_channels'), 2);

    await publish(h.url, 'm.one', { n: 1 });
    await publish(h.url, 'm.two', { n: 2 });
    await held;
    for (let i = 0; i < 4; i++) await publish(h.url, 'm.one', { n: i });
    // A resume from before the retained history gets a gap.
    const gap = await fetch(`${h.url}/sub/m.one?mode=poll&since=${h.hub.store.epoch}-1`);
    assert.match(await gap.text(), /"event":"gap"/);
    await waitFor(() => (a.text().match(/event: message/g) ?? []).length === 5, 5000, 'sse got 5');
    m = await scrape(h);
    assert.equal(m.get('cometa_messages_published_total'), 6);
    // m.one: 5 messages x 2 streams; m.two: 1 message x (stream + held long-poll).
    assert.equal(m.get('cometa_messages_delivered_total'), 12);
    assert.equal(m.get('cometa_gaps_total'), 1);
    assert.equal(m.get('cometa_publish_to_fanout_seconds_count'), 6);
    assert.ok((m.get('cometa_publish_to_fanout_seconds_bucket{le="+Inf"}') ?? 0) === 6);
    assert.equal(m.get('cometa_fanout_subscribers_sum'), 12);
    assert.ok((m.get('cometa_process_resident_memory_bytes') ?? 0) > 0, 'process metrics included');
    // Counters only grow across scrapes (mirrored from the hub's stats by delta).
    await publish(h.url, 'm.one', {});
    assert.equal((await scrape(h)).get('cometa_messages_published_total'), 7);
    a.close();
    b.close();
    await waitFor(() => (h.hub.core.connections().sse ?? 0) === 0, 5000, 'sse gone');
    assert.equal((await scrape(h)).get('cometa_connections{transport="sse"}'), 0);
  });

  test('counts SQLite tail-cache hits and misses of resume reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cometa-ops-cache-'));
    try {
      const h = await hub({ store: `sqlite:${join(dir, 'c.db')}`, retention: { maxMessages: 100 } });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await publish(h.url, 'cache.a', { n: i }));
      // Three polls resuming from recent cursors (not the newest: a poll at the head reads nothing):
      // the first reads the file and gives the channel its tail, the next two are answered from it.
      for (const id of ids.slice(1, 4)) {
        const res = await fetch(`${h.url}/sub/cache.a?mode=poll&since=${id}`);
        assert.equal(res.status, 200);
        await res.text();
      }
      let m = await scrape(h);
      assert.equal(m.get('cometa_store_cache_hits_total'), 2);
      assert.equal(m.get('cometa_store_cache_misses_total'), 1);
      assert.ok((m.get('cometa_store_cache_bytes') ?? 0) > 3 * 160, 'three messages held');
      // A cursor older than the tail (32 newest) goes to the file.
      for (let i = 0; i < 40; i++) await publish(h.url, 'cache.a', { n: i });
      await (await fetch(`${h.url}/sub/cache.a?mode=poll&since=${ids[0]}`)).text();
      m = await scrape(h);
      assert.equal(m.get('cometa_store_cache_misses_total'), 2);
      await h.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Stores without a cache export the series at 0.
    const mem = await scrape(await hub());
    assert.equal(mem.get('cometa_store_cache_hits_total'), 0);
    assert.equal(mem.get('cometa_store_cache_bytes'), 0);
  });

  test('counts slow-consumer drops', async () => {
    const h = await hub({ limits: { maxBufferedBytes: 1024 } });
    // A peer that never reads: its socket buffer fills, the hub drops it.
    const { connect } = await import('node:net');
    const socket = connect(h.port, '127.0.0.1');
    socket.pause();
    socket.write('GET /sub/slow HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    await waitFor(() => h.hub.core.subscriberCount('slow') === 1, 5000, 'slow subscriber');
    const big = 'x'.repeat(64 * 1024);
    // Fan-out runs once per event-loop turn: let it run between publishes.
    for (let i = 0; i < 200 && h.hub.core.stats.slowConsumerDrops === 0; i++) {
      await h.hub.publish('slow', big);
      await new Promise(setImmediate);
    }
    socket.destroy();
    const m = await scrape(h);
    assert.ok((m.get('cometa_slow_consumer_drops_total') ?? 0) >= 1);
  });

  test('each hub has its own registry; metrics: false removes the route', async () => {
    const one = await hub();
    const two = await hub({ metrics: false });
    await publish(one.url, 'x', 1);
    assert.equal((await scrape(one)).get('cometa_messages_published_total'), 1);
    const res = await fetch(`${two.url}/metrics`);
    assert.equal(res.status, 404);
    assert.equal(two.hub.metrics, undefined);
    const three = await hub();
    assert.equal((await scrape(three)).get('cometa_messages_published_total'), 0, 'no series shared');
    // A ping on a channel without the ping policy is answered as usual but refused and counted.
    await fetch(`${three.url}/ping/not.enabled?k=v`);
    const m = await scrape(three);
    assert.equal(m.get('cometa_pings_refused_total'), 1);
    assert.equal(m.get('cometa_messages_published_total'), 0);
    assert.equal(m.get('cometa_up'), 1);
  });
});

test('docs/operations.md documents every cometa_* metric the hub exposes', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const h = await hub();
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const names = [...text.matchAll(/^# TYPE (cometa_\w+) /gm)]
    .map((m) => m[1]!)
    .filter((n) => !/^cometa_(process|nodejs)_/.test(n));
  assert.ok(names.length >= 15, names.join(', '));
  for (const name of names) assert.ok(doc.includes(`\`${name}\``), `${name} documented`);
});

describe('dashboard stats channel', () => {
  test('the hub publishes snapshots on cometa.stats with connections, rates and channels', async () => {
    const h = await hub({ dashboard: true, statsIntervalMs: 200 });
    const watcher = sse(`${h.url}/sub/${STATS_CHANNEL},d.chan`);
    await waitFor(() => watcher.text().includes('event: cometa.open'), 5000, 'open');
    for (let i = 0; i < 5; i++) await publish(h.url, 'd.chan', { i });
    const snaps = (): StatsSnapshot[] =>
      [...watcher.text().matchAll(/event: stats\ndata: (.*)\n/g)].map(
        (x) => (JSON.parse(x[1]!) as { data: StatsSnapshot }).data,
      );
    await waitFor(
      () => snaps().some((s) => s.channels.some((c) => c.channel === 'd.chan' && c.stored === 5)),
      5000,
      'stats',
    );
    const s = snaps().at(-1)!;
    assert.equal(s.connections.sse, 1);
    assert.equal(s.store, 'memory');
    assert.match(s.hub, new RegExp(`/${process.pid}/`), 'the snapshot names its hub process');
    assert.equal(s.intervalMs, 200);
    const row = s.channels.find((c) => c.channel === 'd.chan')!;
    assert.equal(row.subscribers, 1);
    assert.ok(!s.channels.some((c) => c.channel === STATS_CHANNEL), 'the stats channel is not listed');
    const total = snaps().reduce((n, x) => n + x.inPerSec * 0.2, 0);
    assert.ok(Math.abs(total - 5) < 1.5, `rates add up to the 5 publishes (${total})`);
    watcher.close();
    assert.equal((await fetch(`${h.url}/dashboard`)).status, 200, 'dashboard served without demo');
    assert.equal((await fetch(`${h.url}/`)).status, 404, 'the demo page is not');
  });

  test('no stats are published without the dashboard', async () => {
    const h = await hub();
    await sleep(1300);
    assert.equal((await h.hub.info(STATS_CHANNEL)).stored, 0);
    assert.equal((await fetch(`${h.url}/dashboard`)).status, 404);
  });
});

describe('simulated demo feed', () => {
  test('publishes plausible scores and quotes, marked simulated, and stops with hub.close()', async () => {
    const h = await startHub({ demo: true, demoFeed: true });
    const feed = h.hub.demoFeed!;
    await waitFor(
      () => feed.published >= FEED_CHANNELS.scores.length + FEED_CHANNELS.quotes.length + 3,
      8000,
      'feed',
    );
    const q = await fetch(`${h.url}/sub/quotes.AAPL?mode=poll&last=5`);
    const quotes = ((await q.json()) as { messages: { event: string; data: Quote }[] }).messages;
    assert.ok(quotes.length >= 1);
    for (const m of quotes) {
      assert.equal(m.event, 'quote');
      assert.equal(m.data.simulated, true);
      assert.ok(m.data.price > 100 && m.data.price < 300, `AAPL price plausible: ${m.data.price}`);
    }
    const s = await fetch(`${h.url}/sub/scores.nba?mode=poll&last=1`);
    const score = ((await s.json()) as { messages: { data: ScoreUpdate }[] }).messages[0]!.data;
    assert.equal(score.simulated, true);
    assert.equal(score.games.length, 4);
    await h.close();
    assert.equal(feed.running, false);
    const count = feed.published;
    await sleep(1700);
    assert.equal(feed.published, count, 'nothing published after close');
  });

  test('a feed on a fake target: score events move scores up by the points they announce', async () => {
    const sent: { channel: string; data: ScoreUpdate }[] = [];
    let seed = 7;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const feed = new DemoFeed(
      {
        publish: async (channel, data) => {
          sent.push({ channel, data: data as ScoreUpdate });
          return 'x';
        },
      },
      { scoreEveryMs: 5, quoteEveryMs: 5, random },
    );
    feed.start();
    await sleep(400);
    feed.stop();
    const byLeague = new Map<string, ScoreUpdate>();
    let checked = 0;
    for (const m of sent.filter((x) => x.channel.startsWith('scores.'))) {
      const prev = byLeague.get(m.channel);
      const c = m.data.change;
      if (prev && c) {
        const before = prev.games.find((g) => g.id === c.game)!;
        const now = m.data.games.find((g) => g.id === c.game)!;
        const delta = now.homeScore + now.awayScore - before.homeScore - before.awayScore;
        assert.equal(delta, c.points);
        checked++;
      }
      byLeague.set(m.channel, m.data);
    }
    assert.ok(checked > 5, `checked ${checked} score events`);
  });
});

describe('demo routes', () => {
  test('POST /demo/kick ends the subscribers of one demo.* channel with reason kicked', async () => {
    const h = await hub({ demo: true });
    const mine = sse(`${h.url}/sub/quotes.X,demo.page-abc`);
    const other = sse(`${h.url}/sub/quotes.X`);
    await waitFor(
      () => mine.text().includes('event: cometa.open') && other.text().includes('event: cometa.open'),
      5000,
      'open',
    );
    const res = await fetch(`${h.url}/demo/kick?channel=demo.page-abc`, { method: 'POST' });
    assert.deepEqual(await res.json(), { channel: 'demo.page-abc', kicked: 1 });
    await waitFor(() => mine.ended(), 5000, 'kicked stream ended');
    assert.match(mine.text(), /event: close\ndata: \{[^\n]*"reason":"kicked"/);
    assert.equal(other.ended(), false, 'other subscribers untouched');
    // Only demo.* channels, only POST, only from allowed origins, only in demo mode.
    assert.equal((await fetch(`${h.url}/demo/kick?channel=quotes.X`, { method: 'POST' })).status, 400);
    assert.equal((await fetch(`${h.url}/demo/kick?channel=demo.page-abc`)).status, 405);
    const plain = await hub();
    assert.equal(
      (await fetch(`${plain.url}/demo/kick?channel=demo.page-abc`, { method: 'POST' })).status,
      404,
    );
    other.close();
  });

  test('a hub with listed origins refuses a kick from another Origin', async () => {
    const h = await hub({ demo: true, cors: { origins: ['http://good.test'] } });
    const res = await fetch(`${h.url}/demo/kick?channel=demo.page-x`, {
      method: 'POST',
      headers: { origin: 'http://evil.test' },
    });
    assert.equal(res.status, 403);
  });

  test('POST /demo/upload reads the whole body at a bounded pace and answers its size', async () => {
    const h = await hub({ demo: true });
    const body = new Uint8Array(3 << 20);
    const t0 = Date.now();
    const res = await fetch(`${h.url}/demo/upload?bps=${4 << 20}`, { method: 'POST', body });
    const answer = (await res.json()) as { bytes: number; ms: number };
    assert.equal(res.status, 200);
    assert.equal(answer.bytes, 3 << 20);
    assert.ok(Date.now() - t0 >= 500, 'paced: 3 MiB at 4 MiB/s takes well over half a second');
    assert.equal((await fetch(`${h.url}/demo/upload?bps=1`, { method: 'POST', body: 'x' })).status, 400);
  });
});
