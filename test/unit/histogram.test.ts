/**
 * LeanHistogram (src/hub/histogram.ts) against prom-client's own Histogram: the same observations
 * must give the same Prometheus text, line for line, in both exposition formats.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Histogram, Registry, type RegistryContentType } from 'prom-client';
import { LeanHistogram } from '../../src/hub/histogram.js';

const BUCKETS = [0, 0.001, 0.01, 0.5, 1, 100];
const VALUES = [0, 0, 0.0005, 0.001, 0.0010001, 0.2, 0.5, 0.75, 1, 3, 99.9, 100, 100.5, 1e9, -1];

async function texts(observe: boolean, contentType?: RegistryContentType): Promise<[string, string]> {
  const a = new Registry<RegistryContentType>();
  const b = new Registry<RegistryContentType>();
  if (contentType !== undefined) {
    a.setContentType(contentType);
    b.setContentType(contentType);
  }
  const theirs = new Histogram({ name: 'h_seconds', help: 'help text', buckets: BUCKETS, registers: [a] });
  const ours = new LeanHistogram(b, 'h_seconds', 'help text', BUCKETS);
  if (observe) {
    for (const v of VALUES) {
      theirs.observe(v);
      ours.observe(v);
    }
  }
  return [await a.metrics(), await b.metrics()];
}

describe('LeanHistogram', () => {
  it('exposes what prom-client’s Histogram exposes for the same observations', async () => {
    const [theirs, ours] = await texts(true);
    assert.equal(ours, theirs);
    assert.match(ours, /h_seconds_bucket\{le="0\.01"\} 6/);
    assert.match(ours, /h_seconds_count 15/);
  });

  it('matches in the OpenMetrics format too', async () => {
    const [theirs, ours] = await texts(true, Registry.OPENMETRICS_CONTENT_TYPE);
    assert.equal(ours, theirs);
  });

  it('exposes zeros before the first observation, and nothing after a reset until the next one, as prom-client does', async () => {
    const [theirs, ours] = await texts(false);
    assert.equal(ours, theirs);
    assert.match(ours, /h_seconds_bucket\{le="\+Inf"\} 0/);
    const a = new Registry();
    const b = new Registry();
    const h1 = new Histogram({ name: 'r_seconds', help: 'r', buckets: [1], registers: [a] });
    const h2 = new LeanHistogram(b, 'r_seconds', 'r', [1]);
    h1.observe(5);
    h2.observe(5);
    a.resetMetrics();
    b.resetMetrics();
    assert.equal(await b.metrics(), await a.metrics());
    assert.doesNotMatch(await b.metrics(), /r_seconds_count/);
    assert.deepEqual(await b.getMetricsAsJSON(), await a.getMetricsAsJSON());
    h1.observe(0.5);
    h2.observe(0.5);
    assert.equal(await b.metrics(), await a.metrics());
    assert.match(await b.metrics(), /r_seconds_count 1/);
  });

  it('ignores values that are not finite numbers', async () => {
    const r = new Registry();
    const h = new LeanHistogram(r, 'n_seconds', 'n', [1]);
    h.observe(Number.NaN);
    h.observe(Number.POSITIVE_INFINITY);
    h.observe(0.5);
    const text = await r.metrics();
    assert.match(text, /n_seconds_sum 0\.5/);
    assert.match(text, /n_seconds_count 1/);
  });

  it('refuses buckets that do not increase, naming the metric', () => {
    assert.throws(() => new LeanHistogram(new Registry(), 'bad', 'b', [1, 1]), /bad: buckets must increase/);
  });
});
