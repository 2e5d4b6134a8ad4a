/** Options are validated once, with messages that name the option, and frozen. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionsError, resolveOptions } from '../../src/hub/options.js';

describe('hub options', () => {
  it('fills every default and freezes the result', () => {
    const o = resolveOptions({});
    assert.equal(o.heartbeatMs, 15_000);
    assert.equal(o.longPollTimeout, 25);
    assert.equal(o.longPollMaxTimeout, 60);
    assert.deepEqual(o.retention, { maxMessages: 1000, maxAgeMs: 3_600_000 });
    assert.equal(o.limits.maxBodyBytes, 1 << 20);
    assert.equal(o.limits.maxChannelsPerSubscription, 64);
    assert.equal(o.cors.anyOrigin, true);
    assert.equal(o.cors.maxAge, 86400);
    assert.equal(o.tcpNoDelay, 'auto');
    assert.ok(Object.isFrozen(o) && Object.isFrozen(o.limits) && Object.isFrozen(o.cors));
    assert.throws(() => {
      (o as { heartbeatMs: number }).heartbeatMs = 1;
    }, TypeError);
  });

  it('resolves the Durable Streams options (on by default, false turns them off)', () => {
    const o = resolveOptions({});
    assert.deepEqual(o.streams, {
      prefix: '/v1/stream',
      store: null,
      longPollMs: 25_000,
      sseMaxMs: 60_000,
      maxReadBytes: 1 << 20,
      maxStreamBytes: 256 << 20,
      maxTotalBytes: null,
      maxStreams: 100_000,
      maxProducers: 100,
      maxForkDepth: 16,
      maxAppendMessages: 10_000,
      channels: true,
      subscriptions: false,
      gzipMinBytes: 1024,
      gzipLevel: 6,
      gzipCacheBytes: 16 << 20,
      gzipConcurrency: 1,
    });
    assert.ok(Object.isFrozen(o.streams));
    assert.equal(resolveOptions({ streams: { maxTotalBytes: 4096 } }).streams?.maxTotalBytes, 4096);
    for (const key of ['maxTotalBytes', 'maxStreams', 'maxProducers', 'maxForkDepth', 'maxAppendMessages']) {
      assert.throws(
        () => resolveOptions({ streams: { [key]: 0 } }),
        new RegExp(`options\\.streams\\.${key} `),
      );
    }
    assert.equal(resolveOptions({ streams: false }).streams, null);
    assert.equal(resolveOptions({ streams: { longPollTimeout: 3 } }).streams?.longPollMs, 3000);
  });

  it('resolves per-pattern retention, first match wins', () => {
    const o = resolveOptions({
      retention: { maxMessages: 50 },
      retentionRules: [
        { pattern: 'quotes.*', maxMessages: 5 },
        { pattern: 'quotes.**', maxAgeMs: 1000 },
      ],
    });
    assert.deepEqual(o.retentionFor('quotes.AAPL'), { maxMessages: 5, maxAgeMs: 3_600_000 });
    assert.deepEqual(o.retentionFor('quotes.x.y'), { maxMessages: 50, maxAgeMs: 1000 });
    assert.deepEqual(o.retentionFor('scores.nba'), { maxMessages: 50, maxAgeMs: 3_600_000 });
  });

  it('refuses bad values with a message naming the option', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ heartbeatMs: -1 }, /options\.heartbeatMs/],
      [{ heartbeatMs: 1.5 }, /options\.heartbeatMs/],
      [{ longPollTimeout: 100 }, /options\.longPollTimeout/],
      [{ limits: { maxBodyBytes: 0 } }, /options\.limits\.maxBodyBytes/],
      [{ retentionRules: [{ pattern: 'a..b' }] }, /options\.retentionRules\[0\]\.pattern/],
      [{ cors: { origins: ['*'], credentials: true } }, /options\.cors\.credentials/],
      [{ cors: { origins: ['example.com'] } }, /options\.cors\.origins/],
      [{ prefix: 'nope/' }, /options\.prefix/],
      [{ store: 42 }, /options\.store/],
      [{ tcpNoDelay: 'no' }, /options\.tcpNoDelay/],
      [{ heartbeat: 5 }, /options\.heartbeat is not a known option/],
      [{ streams: { prefix: 'v1/stream' } }, /options\.streams\.prefix/],
      [{ streams: { prefix: '/v1/stream/' } }, /options\.streams\.prefix/],
      [{ streams: { longPollTimeout: 0 } }, /options\.streams\.longPollTimeout/],
      [{ streams: { maxStreamBytes: -1 } }, /options\.streams\.maxStreamBytes/],
      [{ streams: { channels: 'yes' } }, /options\.streams\.channels/],
      [{ streams: { store: '' } }, /options\.streams\.store/],
      [{ streams: { bogus: 1 } }, /options\.streams\.bogus is not a known option/],
      [{ streams: true }, /options\.streams must be/],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => resolveOptions(input as never),
        (err: unknown) => {
          assert.ok(err instanceof OptionsError);
          assert.match((err as Error).message, message);
          return true;
        },
      );
    }
  });
});
