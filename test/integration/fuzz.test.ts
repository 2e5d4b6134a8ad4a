/**
 * A bounded fuzz run against a live hub in a child process (scripts/fuzz.ts does the requests):
 * ≥ 20,000 random and mutated HTTP requests over raw sockets plus random WebSocket frames. No
 * crash, no 5xx, every refusal a 4xx JSON error from the registry, no injected header or script,
 * stored history intact, memory back near its baseline. `node --import tsx scripts/fuzz.ts
 * --count 200000` runs a longer one.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { fuzz, MARKER } from '../../scripts/fuzz.js';
import { type ChildHub, startChildHub } from '../helpers/child-hub.js';
import { sleep } from '../helpers/hub.js';

const SECRET = 'fuzz-secret-that-is-long-enough-for-hs256';
/** A channel the fuzzer cannot produce (its alphabet has no `~`). */
const KNOWN = 'known~history';
const COUNT = Number(process.env.FUZZ_COUNT ?? 20_000);
const WS_FRAMES = Number(process.env.FUZZ_WS_FRAMES ?? 2_000);

describe('fuzzing a live hub', () => {
  let hub: ChildHub;
  let token: string;
  before(async () => {
    hub = await startChildHub({
      auth: { key: SECRET },
      channels: [
        { pattern: 'priv.**' },
        { pattern: '**', subscribe: 'public', publish: 'public', publishGet: true, ping: true },
      ],
      // Fuzzed publishes expire fast so memory can come back; the known history is kept.
      retention: { maxMessages: 20, maxAgeMs: 1500 },
      retentionRules: [{ pattern: KNOWN, maxMessages: 1000, maxAgeMs: 3_600_000 }],
      limits: { publishRatePerIp: 0, maxConnections: 0, maxConnectionsPerIp: 0 },
    });
    token = await new SignJWT({ sub: 'fuzzer', cometa: { subscribe: ['priv.*'], publish: ['priv.x'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
  });
  after(() => hub.close());

  it(`survives ${COUNT} random/mutated requests and ${WS_FRAMES} WebSocket frames with only clear 4xx refusals`, async () => {
    const known = Array.from({ length: 50 }, (_, i) => ({ n: i, text: `known message ${i}` }));
    const ids = await hub.publish(KNOWN, known);

    // Warm up (JIT, pools, first allocations), then take the baseline.
    const warm = await fuzz({ port: hub.port, count: 1000, seed: 99, concurrency: 32, token });
    assert.deepEqual(warm.failures, []);
    await sleep(2500);
    const base = await hub.memory();

    const started = Date.now();
    const report = await fuzz({
      port: hub.port,
      count: COUNT,
      wsFrames: WS_FRAMES,
      seed: Number(process.env.FUZZ_SEED ?? 20261124),
      concurrency: 64,
      token,
      avoid: KNOWN,
    });
    const seconds = (Date.now() - started) / 1000;
    console.log(
      JSON.stringify({ seconds, ...report, failures: report.failures.length, byCode: report.byCode }),
    );
    assert.deepEqual(report.failures, [], 'every answer passes the checks');
    assert.equal(hub.exitCode(), null, 'the hub did not crash');
    assert.ok(report.sent >= COUNT);
    assert.ok(report.answered >= COUNT * 0.6, `most requests answered (${report.answered})`);
    for (const status of Object.keys(report.byStatus)) assert.ok(Number(status) < 500, `status ${status}`);
    // The run reached deep into the hub, not only the HTTP parser.
    for (const code of [
      'ERR_BAD_CHANNEL',
      'ERR_BAD_CURSOR',
      'ERR_BAD_PARAM',
      'ERR_BAD_BODY',
      'ERR_NOT_FOUND',
    ]) {
      assert.ok((report.byCode[code] ?? 0) > 0, `${code} seen`);
    }
    assert.ok((report.byStatus['202'] ?? 0) > 0, 'some publishes accepted');
    assert.ok(report.wsFrames >= WS_FRAMES && report.wsAnswers > WS_FRAMES / 4, 'WebSocket frames answered');

    // History intact: the known messages, in order, same ids, same data.
    const res = await fetch(`${hub.url}/sub/${KNOWN}?mode=poll&last=50`);
    const body = (await res.json()) as { messages: Array<{ id: string; data: unknown }> };
    assert.deepEqual(
      body.messages.map((m) => m.id),
      ids,
    );
    assert.deepEqual(
      body.messages.map((m) => m.data),
      known,
    );

    // Memory back near the baseline once fuzzed messages expired (retention 1.5 s, swept each second).
    await sleep(3000);
    const end = await hub.memory();
    console.log(
      JSON.stringify({
        baseHeapMB: +(base.heapUsed / 2 ** 20).toFixed(1),
        endHeapMB: +(end.heapUsed / 2 ** 20).toFixed(1),
        baseRssMB: +(base.rss / 2 ** 20).toFixed(1),
        endRssMB: +(end.rss / 2 ** 20).toFixed(1),
        peakRssMB: +(end.hwm / 2 ** 20).toFixed(1),
      }),
    );
    assert.ok(
      end.heapUsed < base.heapUsed + 16 * 2 ** 20,
      `heap ${end.heapUsed} back within 16 MB of ${base.heapUsed}`,
    );
    const health = await fetch(`${hub.url}/healthz`);
    assert.equal(health.status, 200);
  });

  it('never lets a callback, channel name or header value inject a header or script', async () => {
    const probes = [
      `/sub/a?mode=poll&callback=cb%0D%0A${MARKER}:%20yes`,
      `/sub/a?mode=poll&callback=alert(1)//`,
      `/sub/a?mode=poll&callback=%3C/script%3E%3Cscript%3Ealert(1)%3C/script%3E`,
      `/sub/a%0D%0A${MARKER}:%20yes?mode=poll`,
      `/pub/a%0D%0A${MARKER}:%20yes`,
      `/pub/a?callback=cb%0D%0A${MARKER}:yes&data=x`,
      `/sub/%3Cscript%3E?mode=poll&callback=cb`,
      `/pub/x?callback=cb&data=%3C/script%3E%3Cscript%3Ealert(1)%3C/script%3E%0D%0A${MARKER}:%201`,
    ];
    for (const p of probes) {
      const r = await fetch(`${hub.url}${p}`);
      const text = await r.text();
      assert.equal(r.headers.get(MARKER), null, p);
      assert.ok(r.status < 500, p);
      const type = r.headers.get('content-type') ?? '';
      if (type.startsWith('application/javascript')) {
        // Script answers are exactly /**/NAME(JSON); — data travels JSON-encoded, never as markup.
        const m = /^\/\*\*\/([A-Za-z_$][\w$.]*)\(([\s\S]*)\);$/.exec(text);
        assert.ok(m, `${p}: ${text}`);
        assert.equal(m[1], 'cb');
        JSON.parse(m[2]!);
        assert.ok(!/<\/script/i.test(m[2]!) || m[2]!.includes('\\u003c') || !m[2]!.includes('</script>'), p);
      } else {
        assert.match(type, /^application\/json/, p);
        if (r.status >= 400) assert.ok(JSON.parse(text).error.code, p);
      }
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
    }
    // A raw CR/LF in a header value: Node refuses it, the hub answers 400 JSON, nothing echoed.
    const raw = await new Promise<string>((resolve) => {
      const s = connect(hub.port, '127.0.0.1', () =>
        s.write(
          `GET /sub/a?mode=poll HTTP/1.1\r\nHost: x\r\nLast-Event-ID: a\rX: y\r\nConnection: close\r\n\r\n`,
        ),
      );
      let out = '';
      s.on('data', (d) => {
        out += d;
      });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.match(raw, /ERR_BAD_REQUEST/);
    // A token that is refused is never echoed back into WWW-Authenticate.
    const evil = `a"b\r\n${MARKER}: 1`;
    const r = await fetch(`${hub.url}/sub/priv.a?mode=poll&token=${encodeURIComponent(evil)}`);
    assert.equal(r.status, 401);
    assert.equal(r.headers.get(MARKER), null);
    assert.ok(!(r.headers.get('www-authenticate') ?? '').includes('a"b'));
  });
});
