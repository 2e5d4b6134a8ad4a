import { performance } from 'node:perf_hooks';

/** Event-loop utilization at or above which `tcpNoDelay: 'auto'` turns Nagle on. */
export const NAGLE_ON_UTILIZATION = 0.7;
/**
 * Utilization below which it turns Nagle off again. Far enough under the first threshold that
 * the CPU Nagle saves (about a fifth of a fan-out's in the benchmark: 9.43 -> 7.50 µs per SSE
 * delivery) cannot swing the hub back and forth.
 */
export const NAGLE_OFF_UTILIZATION = 0.35;
/** Length of one measurement window: the mode can change at most once per window. */
export const NAGLE_WINDOW_MS = 1000;

/**
 * The policy of `tcpNoDelay: 'auto'`: frames leave at once (TCP_NODELAY) while the hub has CPU to
 * spare, and the kernel's Nagle algorithm merges them into fewer packets while the event loop is
 * busy, the way network cards coalesce interrupts only under load. A busy hub's latency is its
 * queue, not the round trip Nagle may add, and each packet saved is CPU given back to that queue.
 *
 * The hub samples it from its sweep timer: no timer of its own, and one `eventLoopUtilization()`
 * call per window.
 */
export class AutoNagle {
  /** Whether Nagle is on (TCP_NODELAY off) for streams and WebSockets now. */
  active = false;
  #since = performance.eventLoopUtilization();
  #at: number;

  constructor(now: number) {
    this.#at = now;
  }

  /**
   * Closes the measurement window once it is `NAGLE_WINDOW_MS` old and applies its utilization.
   * Returns true when the mode changed (the caller then updates every socket).
   */
  sample(now: number): boolean {
    if (now - this.#at < NAGLE_WINDOW_MS) return false;
    const elu = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(elu, this.#since).utilization;
    this.#since = elu;
    this.#at = now;
    return this.apply(u);
  }

  /** Applies one window's utilization (0..1) with hysteresis; true when the mode changed. */
  apply(utilization: number): boolean {
    const next = this.active ? utilization >= NAGLE_OFF_UTILIZATION : utilization >= NAGLE_ON_UTILIZATION;
    if (next === this.active) return false;
    this.active = next;
    return true;
  }
}
