/**
 * History answers and replays are bounded in bytes as well as in messages (`limits.maxBatchBytes`,
 * `limits.maxBatch`): a poll gets one page and continues from its cursor; `last=N` over several
 * channels is one page in all; a stream or WebSocket pages through a long history at the pace its
 * peer reads (it is not dropped for a history larger than its buffer); a peer that asks for answers
 * without reading them, or does not read its replay while live messages pile up behind it, is
 * dropped as a slow consumer. Memory store, real sockets.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startHub, type TestHub, waitFor } from '../helpers/hub.js';

interface PollAnswer {
  messages: { id: string | null; channel: string; event: string; data: unknown }[];
  cursor: string;
}

const KB64 = 'k'.repeat(64 * 1024);
const PAGE = 256 * 1024;

describe('history bounded in bytes', () => {
  let t: TestHub;
  /** The cursor before every message. */
  let start = '';
  before(async () => {
    t = await startHub({
      limits: { maxBatchBytes: PAGE, maxBufferedBytes: PAGE, maxBatch: 40, publishRatePerIp: 0 },
      retention: { maxMessages: 1000 },
    });
    // big: 40 x 64 KB (2.5 MiB in all); m0..m4: 10 small messages each.
    for (let i = 0; i < 40; i++) await t.hub.publish('big', { i, pad: KB64 });
    for (let i = 0; i < 10; i++) for (let c = 0; c < 5; c++) await t.hub.publish(`m${c}`, { i, c });
    // huge: 100 x 64 KB, more than loopback's socket buffers take (~2.5 MB) besides the hub's own.
    for (let i = 0; i < 100; i++) await t.hub.publish('huge', { i, pad: KB64 });
    start = `${t.hub.core.epoch}-0`;
  });
  after(() => t.close());

  async function poll(query: string): Promise<PollAnswer> {
    const res = await fetch(`${t.url}/sub/${query}`);
    assert.equal(res.status, 200);
    return (await res.json()) as PollAnswer;
  }

  /** Polls from `first` on with each answer's cursor until an answer is empty; every answer's size. */
  async function pollAll(first: string, channels: string): Promise<{ data: unknown[]; sizes: number[] }> {
    const data: unknown[] = [];
    const sizes: number[] = [];
    let a = await poll(first);
    for (let rounds = 0; a.messages.length > 0 && rounds < 100; rounds++) {
      sizes.push(JSON.stringify(a).length);
      for (const m of a.messages) data.push(m.data);
      a = await poll(`${channels}?mode=poll&since=${a.cursor}`);
    }
    return { data, sizes };
  }

  it('answers a poll of a long history one page in bytes at a time, gapless from the cursor', async () => {
    const { data, sizes } = await pollAll('big?mode=poll&last=40', 'big');
    assert.deepEqual(
      data.map((d) => (d as { i: number }).i),
      Array.from({ length: 40 }, (_, i) => i),
    );
    assert.ok(sizes.length >= 10, `${sizes.length} answers`);
    for (const s of sizes) assert.ok(s <= PAGE + 1024, `an answer of ${s} bytes`);
  });

  it('bounds JSONP answers the same way', async () => {
    const res = await fetch(`${t.url}/sub/big?mode=poll&last=40&callback=cb`);
    const text = await res.text();
    assert.ok(text.length <= PAGE + 1024, `a JSONP answer of ${text.length} bytes`);
    assert.match(text, /^\/\*\*\/cb\(\{"messages":\[/);
  });

  it('cuts last=N over several channels to maxBatch messages in all, the rest from the cursor', async () => {
    const channels = 'm0,m1,m2,m3,m4';
    const first = await poll(`${channels}?mode=poll&last=10`);
    assert.equal(first.messages.length, 40);
    const { data } = await pollAll(`${channels}?mode=poll&last=10`, channels);
    assert.equal(data.length, 50);
    const seen = new Set(data.map((d) => JSON.stringify(d)));
    assert.equal(seen.size, 50, 'every message once');
  });

  it('pages an SSE replay larger than maxBufferedBytes to a reader instead of dropping it', async () => {
    const ids = await sseIds(`${t.url}/sub/huge?transport=sse&since=${start}`, 100);
    assert.equal(ids.length, 100);
    assert.equal(new Set(ids).size, 100);
  });

  it('pages a WebSocket replay larger than maxBufferedBytes to a reader', async () => {
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/sub/huge?since=${start}`);
    const got: number[] = [];
    let closed = '';
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { id?: string | null; data?: { i: number }; event?: string };
      if (m.id && m.data) got.push(m.data.i);
      if (m.event === 'close') closed = String(raw);
    });
    await waitFor(() => got.length === 100 || closed !== '', 20_000, 'the WebSocket replay');
    ws.close();
    assert.equal(closed, '');
    assert.deepEqual(
      got,
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  it('drops a connection that asks for answers without reading them', async () => {
    const drops = t.hub.core.stats.slowConsumerDrops;
    const socket = connect(t.port, '127.0.0.1');
    socket.on('error', () => {});
    // Never read: pause, and keep the receive window small.
    socket.pause();
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    await new Promise<void>((r) => socket.on('connect', () => r()));
    const req = 'GET /sub/big?mode=poll&last=4 HTTP/1.1\r\nHost: x\r\n\r\n';
    // 200 answers of ~256 KB: 50 MB if every one were kept for this peer.
    socket.write(req.repeat(200));
    await waitFor(() => t.hub.core.stats.slowConsumerDrops > drops, 15_000, 'a slow-consumer drop');
    // The hub closed its end: reading now drains what it had sent, then the close.
    socket.resume();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 15_000))]);
    assert.ok(socket.destroyed || socket.readableEnded, 'the hub closed the connection');
    socket.destroy();
  });

  it('drops a stream that does not read its replay once live messages pile up behind it', async () => {
    const drops = t.hub.core.stats.slowConsumerDrops;
    const socket = connect(t.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.pause(); // never reads: the replay waits for it (at most 30 s)
    await new Promise<void>((r) => socket.on('connect', () => r()));
    socket.write(`GET /sub/huge?transport=sse&since=${start} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(t.hub.core.stats.slowConsumerDrops, drops, 'still waiting for the peer');
    // 10 x 64 KB live while it waits: more than maxBufferedBytes held for it.
    for (let i = 100; i < 110; i++) await t.hub.publish('huge', { i, pad: KB64 });
    await waitFor(() => t.hub.core.stats.slowConsumerDrops > drops, 5000, 'a slow-consumer drop');
    socket.destroy();
  });
});

/** Reads an SSE stream slowly (64 KB at a time, paced) until `n` message ids arrived. */
async function sseIds(url: string, n: number): Promise<string[]> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream' } });
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ids = [...text.matchAll(/^id: (.+)\nevent: message$/gm)].map((m) => m[1]!);
    if (ids.length >= n || /event: close/.test(text) || Date.now() > deadline) {
      await reader.cancel();
      if (/event: close/.test(text))
        assert.fail(`stream closed: ${text.slice(text.lastIndexOf('event: close'))}`);
      return ids;
    }
    const { value, done } = await reader.read();
    if (done) return ids;
    text += dec.decode(value, { stream: true });
    // A reader a little slower than loopback: the hub's replay has to wait for it.
    await new Promise((r) => setTimeout(r, 2));
  }
}
