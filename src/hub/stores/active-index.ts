/**
 * What every store's index of channels by newest seq shares (Store.activeChannels): channels are
 * indexed under their first segment (their *head*) as well as globally, so a wildcard resume of
 * `scores.*` looks only at the channels under `scores`, however busy the rest of the store is.
 * Patterns that start with a wildcard (`*.nba`, `**`) have no head and read the global index.
 */
import { compilePattern } from '../../protocol/channel.js';
import type { ActiveChannels } from './store.js';

/**
 * Index entries one activeChannels call looks at, over all the heads it reads: past it the answer
 * is `overflow` (the resume answers a gap on its patterns), so a resume costs its store a bounded
 * amount whatever the number of channels active since the cursor.
 */
export const ACTIVE_SCAN_BUDGET = 100_000;

/** A channel's first segment: the index it is kept under besides the global one. */
export function channelHead(channel: string): string {
  const dot = channel.indexOf('.');
  return dot === -1 ? channel : channel.slice(0, dot);
}

/**
 * A pattern's first segment when it is literal (`scores` for `scores.*`), else undefined (`*.nba`,
 * `**`): every channel the pattern matches is then under that head.
 */
export function patternHead(pattern: string): string | undefined {
  const head = channelHead(pattern);
  return head === '*' || head === '**' ? undefined : head;
}

/**
 * Where one activeChannels call looks: `heads`, each with the matchers of its patterns, or, when
 * some pattern has no head, the global index with every matcher (`heads` undefined).
 */
export interface ActivePlan {
  heads: Map<string, ((channel: string) => boolean)[]> | undefined;
  matchers: ((channel: string) => boolean)[];
}

/** The plan for `patterns`; throws a TypeError for an invalid pattern, as compilePattern does. */
export function planActive(patterns: readonly string[]): ActivePlan {
  const matchers = patterns.map(compilePattern);
  const heads = new Map<string, ((channel: string) => boolean)[]>();
  for (let i = 0; i < patterns.length; i++) {
    const head = patternHead(patterns[i]!);
    if (head === undefined) return { heads: undefined, matchers };
    const list = heads.get(head);
    if (list === undefined) heads.set(head, [matchers[i]!]);
    else list.push(matchers[i]!);
  }
  return { heads, matchers };
}

/**
 * Collects the matching channels of one or more scans, each newest first, into one answer: at most
 * `max` channels, newest first over all scans. The budget of entries looked at is shared by every
 * scan of the call. A scan, for each entry: when {@link budget} is 0, calls {@link cut} and stops;
 * otherwise {@link offer}s it, and stops when that answers false (it has `max` + 1 matches: enough
 * to know there are more). A channel offered again (a Redis scan reads the channels published
 * while it ran once more, see redis.ts) counts once, at its newest seq.
 */
export class ActiveCollector {
  readonly #max: number;
  #budget = ACTIVE_SCAN_BUDGET;
  /** A scan stopped on the budget with entries left: what they hold is unknown. */
  #cut = false;
  /** Each matching channel's newest seq offered. */
  readonly #found = new Map<string, number>();
  #matchers: ((channel: string) => boolean)[] = [];
  #taken = 0;

  constructor(max: number) {
    this.#max = max;
  }

  /** Entries the calling scans may still look at. */
  get budget(): number {
    return this.#budget;
  }

  /** Starts a scan whose entries are matched against `matchers`. */
  scan(matchers: ((channel: string) => boolean)[]): void {
    this.#matchers = matchers;
    this.#taken = 0;
  }

  /** One entry of the running scan; false once the scan has `max` + 1 matching channels. */
  offer(channel: string, seq: number): boolean {
    this.#budget--;
    if (!this.#matchers.some((m) => m(channel))) return true;
    const had = this.#found.get(channel);
    if (had !== undefined) {
      if (seq > had) this.#found.set(channel, seq);
      return true;
    }
    this.#found.set(channel, seq);
    return ++this.#taken <= this.#max;
  }

  /** The running scan had entries left when the budget ran out: the answer is `overflow`. */
  cut(): void {
    this.#cut = true;
  }

  /** Each scan gave its newest `max` + 1 matches at most: the newest `max` of them all are exact. */
  result(): ActiveChannels {
    const found = [...this.#found];
    found.sort((a, b) => b[1] - a[1]);
    const overflow = this.#cut || found.length > this.#max;
    return { channels: found.slice(0, this.#max).map((f) => f[0]), overflow };
  }
}
