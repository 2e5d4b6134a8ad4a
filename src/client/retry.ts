// Retry policy: which failures are retried and how long to wait (Retry-After, or exponential
// backoff with jitter so that many clients failing together do not retry in lockstep), and the
// Idempotency-Key that makes retrying a POST or PATCH safe.
import { failure, isCometaError } from './errors.js';
import type { RequestConfig } from './types.js';

/** Whether the request may be sent again: retries allowed, its method among `retry.methods`. */
const retried = ({ retry: r, method }: RequestConfig) =>
  r.limit > 0 && r.methods.some((m) => m.toUpperCase() === method);

/**
 * Adds an `Idempotency-Key` (random, one per request, so the same on every retry) to a POST or
 * PATCH that may be retried and has none: a server that deduplicates by key (a cometa hub) then
 * stores it once even when an answer was lost and the request was sent again. Only then: a custom
 * header on a cross-origin request needs a preflight that the server must allow. Runs before the
 * beforeRequest hooks (which may replace or remove the key); header names are lower-cased by then.
 */
export function addKey(c: RequestConfig): void {
  // getRandomValues, unlike randomUUID, also exists outside secure contexts: 128 random bits.
  if (/^P(OST|ATCH)$/.test(c.method) && retried(c))
    c.headers['idempotency-key'] ||= crypto.getRandomValues(new Uint32Array(4)).join('-');
}

/** Milliseconds to wait before retry number `n` (1, 2, ...) after `e`, or -1 for no retry. */
export function retryDelay(e: unknown, c: RequestConfig, n: number): number {
  const r = c.retry;
  if (n > r.limit || !isCometaError(e) || !retried(c)) return -1;
  if (e.code === 'ERR_HTTP_STATUS') {
    if (!r.statusCodes.includes(e.status!)) return -1;
    const after = e.headers!.get('retry-after');
    // Retry-After is either delay-seconds or an HTTP date.
    const ms = after ? (Number.isNaN(+after) ? Date.parse(after) - Date.now() : +after * 1000) : Number.NaN;
    if (ms > r.maxRetryAfter) return -1;
    if (ms >= 0) return ms;
  } else if (e.code !== 'ERR_NETWORK' && e.code !== 'ERR_TIMEOUT') return -1;
  return Math.min(r.backoffLimit, r.delay * 2 ** (n - 1)) * (0.5 + Math.random() / 2);
}

/** Resolves after `ms`, or rejects with ERR_ABORTED as soon as the request's signal aborts. */
export function sleep(ms: number, c: RequestConfig): Promise<void> {
  const { signal } = c;
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      if (signal.aborted) reject(failure('ERR_ABORTED', c, signal.reason));
      else resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
