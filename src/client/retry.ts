// Retry policy: which failures are retried and how long to wait (Retry-After, or exponential
// backoff with jitter so that many clients failing together do not retry in lockstep).
import { failure, isCometaError } from './errors.js';
import type { RequestConfig } from './types.js';

/** Milliseconds to wait before retry number `n` (1, 2, ...) after `e`, or -1 for no retry. */
export function retryDelay(e: unknown, c: RequestConfig, n: number): number {
  const r = c.retry;
  if (n > r.limit || !isCometaError(e) || !r.methods.some((m) => m.toUpperCase() === c.method)) return -1;
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
