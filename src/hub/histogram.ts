import type { Metric, Registry, RegistryContentType } from 'prom-client';

/** One exported sample, in the shape prom-client's registry formats. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A label-less Prometheus histogram whose `observe()` is a few comparisons and two additions.
 * prom-client's own `Histogram.observe()` validates and hashes labels and allocates per call; the
 * hub observes once per published message, and that cost showed up in the publish benchmark (2–5 µs
 * per publish, docs/operations.md). The exposition is prom-client's: the registry formats what
 * `get()` returns exactly as it formats a `Histogram` (`_bucket{le}` cumulative, `_sum`, `_count`).
 * It is not a prom-client `Histogram` object: `registry.getSingleMetric()` returns this class,
 * which has no `labels()`, `startTimer()` or `zero()`.
 *
 * @example
 * ```ts
 * const h = new LeanHistogram(registry, 'x_seconds', 'Time to x', [0.01, 0.1, 1]);
 * h.observe(0.05);
 * ```
 */
export class LeanHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;
  /** Whether the series is exposed: from creation, gone after reset() until the next observe(), as
   * prom-client does for a histogram without labels. */
  #present = true;

  constructor(
    registry: Registry<RegistryContentType>,
    name: string,
    help: string,
    buckets: readonly number[],
  ) {
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]! > buckets[i - 1]!)) throw new TypeError(`${name}: buckets must increase`);
    }
    this.name = name;
    this.help = help;
    this.#bounds = Object.freeze([...buckets]);
    this.#counts = new Float64Array(buckets.length + 1);
    // The registry only reads name, get() and reset(): the structural part of prom-client's Metric.
    registry.registerMetric(this as unknown as Metric);
  }

  /** Counts one observation; a value that is not a finite number is ignored (a NaN would poison
   * `_sum` for good, and throwing here would fail the publish that is being fanned out). */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.#present = true;
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  /** What prom-client's registry formats (and `registry.getMetricsAsJSON()` returns). */
  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    if (!this.#present) {
      return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
    }
    let cumulative = 0;
    const name = `${this.name}_bucket`;
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      values.push({ metricName: name, labels: { le: this.#bounds[i]! }, value: cumulative });
    }
    values.push({ metricName: name, labels: { le: '+Inf' }, value: this.#count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.#sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.#count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
    this.#present = false;
  }
}
