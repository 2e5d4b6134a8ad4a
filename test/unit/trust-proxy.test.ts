import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientAddress, compileTrustProxy } from '../../src/hub/http/trust-proxy.js';
import { OptionsError, resolveOptions } from '../../src/hub/options.js';

describe('trustProxy', () => {
  it('matches addresses, CIDR ranges and the named sets, IPv4-mapped IPv6 included', () => {
    const t = compileTrustProxy(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', 'loopback'])!;
    for (const yes of [
      '10.1.2.3',
      '192.0.2.7',
      'fd12::1',
      '127.0.0.1',
      '127.9.9.9',
      '::1',
      '::ffff:10.0.0.1',
    ])
      assert.equal(t(yes), true, yes);
    for (const no of ['11.0.0.1', '192.0.2.8', 'fe80::1', '203.0.113.5', 'unknown', ''])
      assert.equal(t(no), false, no);
    assert.equal(compileTrustProxy([]), null);
    const u = compileTrustProxy(['uniquelocal', 'linklocal'])!;
    assert.ok(u('172.16.0.1') && u('192.168.1.1') && u('169.254.1.1') && u('fc00::1') && u('fe80::1'));
    assert.ok(!u('172.32.0.1'));
  });

  it('takes the client from X-Forwarded-For only through trusted hops, right to left', () => {
    const t = compileTrustProxy(['10.0.0.0/8']);
    // An untrusted peer: its header is ignored, whatever it says.
    assert.equal(clientAddress('203.0.113.9', '198.51.100.1', t), '203.0.113.9');
    // A trusted peer with no header: the peer.
    assert.equal(clientAddress('10.0.0.2', undefined, t), '10.0.0.2');
    // One proxy: the address it appended.
    assert.equal(clientAddress('10.0.0.2', '198.51.100.1', t), '198.51.100.1');
    // The client's own (forged) entries to the left of the untrusted one are never believed.
    assert.equal(clientAddress('10.0.0.2', '1.1.1.1, 6.6.6.6,198.51.100.1', t), '198.51.100.1');
    // Trusted hops are skipped.
    assert.equal(clientAddress('10.0.0.2', '198.51.100.1, 10.0.0.5, 10.9.9.9', t), '198.51.100.1');
    // Every hop trusted: the leftmost.
    assert.equal(clientAddress('10.0.0.2', '10.0.0.7, 10.0.0.5', t), '10.0.0.7');
    // Garbage ends the walk at the last address a trusted hop vouched for.
    assert.equal(clientAddress('10.0.0.2', 'evil, 10.0.0.5', t), '10.0.0.5');
    assert.equal(clientAddress('10.0.0.2', '', t), '10.0.0.2');
    assert.equal(clientAddress('10.0.0.2', '198.51.100.1:4000', t), '10.0.0.2');
    // Nothing trusted: always the peer.
    assert.equal(clientAddress('10.0.0.2', '198.51.100.1', null), '10.0.0.2');
  });

  it('is validated once, with messages that name the option', () => {
    assert.deepEqual(resolveOptions({ store: 'memory' }).trustProxy, []);
    assert.equal(resolveOptions({ store: 'memory' }).trustedProxy, null);
    const o = resolveOptions({ store: 'memory', trustProxy: ' loopback , 10.0.0.0/8 ' });
    assert.deepEqual(o.trustProxy, ['loopback', '10.0.0.0/8']);
    assert.ok(Object.isFrozen(o.trustProxy));
    assert.equal(o.trustedProxy?.('10.2.3.4'), true);
    for (const bad of ['10.0.0.0/33', 'nginx', '1.2.3', 'fd00::/129', '10.0.0.0/x'])
      assert.throws(
        () => resolveOptions({ store: 'memory', trustProxy: [bad] }),
        (e: unknown) => e instanceof OptionsError && e.message.startsWith('options.trustProxy: '),
        bad,
      );
    assert.throws(
      () => resolveOptions({ store: 'memory', trustProxy: true as unknown as string }),
      /options\.trustProxy must be a string or an array of strings/,
    );
  });

  it('limits.requestTimeoutMs is at least limits.headersTimeoutMs', () => {
    assert.equal(resolveOptions({ store: 'memory' }).limits.requestTimeoutMs, 60_000);
    assert.equal(
      resolveOptions({ store: 'memory', limits: { headersTimeoutMs: 120_000 } }).limits.requestTimeoutMs,
      120_000,
    );
    assert.throws(
      () => resolveOptions({ store: 'memory', limits: { headersTimeoutMs: 5000, requestTimeoutMs: 4000 } }),
      /options\.limits\.requestTimeoutMs \(4000\) must be at least limits\.headersTimeoutMs/,
    );
  });
});
