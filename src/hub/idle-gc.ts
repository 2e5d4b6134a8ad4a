import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Gives memory back once the process has gone quiet.
 *
 * Why: a burst of new connections makes V8 grow its young generation to its maximum (16 MB per
 * semi-space) and leaves old-space pages half full of promoted garbage. Nothing shrinks them again
 * while the hub idles: V8 compacts pages and shrinks the young generation only during a
 * collection, and an idle hub allocates too little to cause one (none happened in 26 s of idling,
 * commit 903fc40). Measured with 5,000 idle SSE connections (bench, docs/operations.md): RSS grows
 * 8.9 KB per connection without this, 6.7 KB with it.
 *
 * So once the event loop has been (nearly) idle for `idleMs` and the old generation holds at least
 * {@link MIN_SLACK} more than it uses, one full collection runs. It pauses the process (21–28 ms
 * with 5,000 idle streams, about 20 MB of live heap), which is why it waits for quiet. It compacts
 * the old generation; the young generation is shrunk by whichever collection first finds V8's
 * recent allocation rate low (V8's own rule, often not this one). Slack is counted in
 * the old generation only, so a young generation V8 keeps large does not make this run again: an
 * idle hub collects once, then again only after its old generation has grown new slack.
 *
 * Collections are process-wide, so this is one timer per process shared by every hub in it (the
 * shortest `idleMs` among them applies).
 */

/** Event-loop utilization below which an interval counts as quiet. */
export const QUIET_UTILIZATION = 0.05;
/** Old-generation bytes committed beyond what is used, below which a collection would return too little. */
export const MIN_SLACK = 8 * 2 ** 20;
/** How often quiet is sampled. */
const TICK_MS = 1000;

type Collect = () => void;

/** What one compaction did (for logs and tests). */
export interface Compaction {
  /** Pause, in ms. */
  ms: number;
  /** Heap committed before and after, in bytes (V8's `total_heap_size`). */
  heapBefore: number;
  heapAfter: number;
}

let collect: Collect | null | undefined;

/**
 * V8's full collection. Node exposes it only with `--expose-gc`; without that flag the flag is set
 * just long enough to create one context, whose global `gc` is the collector, then cleared again
 * (contexts created later do not get `gc`). Null when neither works.
 */
function collector(): Collect | null {
  if (collect !== undefined) return collect;
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') {
    collect = global as Collect;
    return collect;
  }
  collect = null;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn: unknown = vm.runInNewContext('gc');
    if (typeof fn === 'function') collect = fn as Collect;
  } catch {
    // Stays null: compaction is then off.
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
  return collect;
}

/** One registered hub: its quiet interval and where compactions are reported. */
interface Client {
  idleMs: number;
  onCompact: (c: Compaction) => void;
}

const clients = new Set<Client>();
let timer: NodeJS.Timeout | undefined;
let lastElu = performance.eventLoopUtilization();
let quietMs = 0;
/**
 * The least slack seen since the last compaction (what that compaction left, at first): a
 * collection runs when the slack has grown {@link MIN_SLACK} beyond it. A full collection may
 * leave 8 MB or more of slack that V8 chose not to compact (a second one in a row then gives back
 * little, commit fe8a152's test runs): it must not run again each quiet interval. Sampled every tick,
 * busy or quiet, so that the floor follows the slack down as the heap fills it again.
 */
let slackFloor = 0;

function tick(): void {
  const elu = performance.eventLoopUtilization();
  const u = performance.eventLoopUtilization(elu, lastElu).utilization;
  lastElu = elu;
  const slack = oldGenerationSlack();
  if (slack < slackFloor) slackFloor = slack;
  if (u >= QUIET_UTILIZATION) {
    quietMs = 0;
    return;
  }
  quietMs += TICK_MS;
  let idleMs = Number.POSITIVE_INFINITY;
  for (const c of clients) idleMs = Math.min(idleMs, c.idleMs);
  if (quietMs < idleMs) return;
  quietMs = 0;
  const c = compactNow(slackFloor + MIN_SLACK);
  if (c === null) return;
  slackFloor = oldGenerationSlack();
  // The collection itself must not count against the next interval's quiet.
  lastElu = performance.eventLoopUtilization();
  for (const client of clients) client.onCompact(c);
}

/** Bytes the old generation has committed beyond what it uses (young generation excluded). */
export function oldGenerationSlack(): number {
  let slack = 0;
  for (const s of v8.getHeapSpaceStatistics())
    if (s.space_name !== 'new_space' && s.space_name !== 'new_large_object_space')
      slack += s.space_size - s.space_used_size;
  return slack;
}

/**
 * Runs one full collection now if the old generation holds at least `minSlack` bytes more than it
 * uses. Returns what it did, or null when it did not run (too little slack, or no collector).
 */
export function compactNow(minSlack = 0): Compaction | null {
  if (oldGenerationSlack() < minSlack) return null;
  const before = v8.getHeapStatistics();
  const gc = collector();
  if (gc === null) return null;
  const t0 = performance.now();
  gc();
  const ms = performance.now() - t0;
  return { ms, heapBefore: before.total_heap_size, heapAfter: v8.getHeapStatistics().total_heap_size };
}

/**
 * Registers a hub for idle compaction; returns the function that unregisters it. The shared timer
 * is unref'd (it never keeps a process alive) and stops with the last hub.
 */
export function compactWhenIdle(idleMs: number, onCompact: (c: Compaction) => void): () => void {
  const client: Client = { idleMs, onCompact };
  clients.add(client);
  if (timer === undefined) {
    lastElu = performance.eventLoopUtilization();
    quietMs = 0;
    slackFloor = 0;
    timer = setInterval(tick, TICK_MS);
    timer.unref();
  }
  return () => {
    if (!clients.delete(client) || clients.size > 0 || timer === undefined) return;
    clearInterval(timer);
    timer = undefined;
  };
}
