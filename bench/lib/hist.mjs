// Latency histogram (milliseconds): 10 us buckets up to 100 ms, then 1 ms buckets up to 100 s.
// Mergeable across processes (sent as sparse [index, count] pairs).
const FINE = 10_000; // 0..100 ms at 0.01 ms
const COARSE = 100_000; // 100 ms..100 s at 1 ms
export const BUCKETS = FINE + COARSE;

export function newHist() {
  return { counts: new Uint32Array(BUCKETS), n: 0, max: 0, sum: 0 };
}

export function record(h, ms) {
  if (!(ms > 0)) ms = 0;
  let i = ms < 100 ? Math.floor(ms * 100) : FINE + Math.floor(ms - 100);
  if (i >= BUCKETS) i = BUCKETS - 1;
  h.counts[i]++;
  h.n++;
  h.sum += ms;
  if (ms > h.max) h.max = ms;
}

export function toSparse(h) {
  const pairs = [];
  for (let i = 0; i < BUCKETS; i++) if (h.counts[i]) pairs.push(i, h.counts[i]);
  return { pairs, n: h.n, max: h.max, sum: h.sum };
}

export function mergeSparse(h, s) {
  for (let i = 0; i < s.pairs.length; i += 2) h.counts[s.pairs[i]] += s.pairs[i + 1];
  h.n += s.n;
  h.sum += s.sum;
  if (s.max > h.max) h.max = s.max;
}

function bucketValue(i) {
  return i < FINE ? (i + 0.5) / 100 : 100 + (i - FINE) + 0.5;
}

export function percentile(h, p) {
  if (h.n === 0) return null;
  const target = Math.ceil((p / 100) * h.n);
  let acc = 0;
  for (let i = 0; i < BUCKETS; i++) {
    acc += h.counts[i];
    if (acc >= target) return Math.min(bucketValue(i), h.max);
  }
  return h.max;
}

export function summary(h) {
  return {
    n: h.n,
    mean: h.n ? h.sum / h.n : null,
    p50: percentile(h, 50),
    p99: percentile(h, 99),
    max: h.n ? h.max : null,
  };
}
