/**
 * Wildcard subscriptions by pattern, in a trie of segments: a published channel name is matched by
 * walking its segments (`scores.nba` visits `scores` then `nba`, `*` and `**` children), so the
 * cost of a publish grows with the number of segments and of patterns that actually match it, not
 * with the number of patterns subscribed. The answer for a channel is cached until a pattern is
 * added or removed (a subscriber joining a pattern that already has some changes no answer: the
 * answer holds the live sets).
 */

interface Node<T> {
  children: Map<string, Node<T>> | undefined;
  /** The `*` child: one segment, any value. */
  star: Node<T> | undefined;
  /** The `**` child: any number of segments (zero included). */
  globstar: Node<T> | undefined;
  /** Who subscribed to the pattern that ends here. */
  items: Set<T> | undefined;
}

/** Channels whose matches are cached at most (the cache starts over when full). */
const CACHE_MAX = 10_000;

function node<T>(): Node<T> {
  return { children: undefined, star: undefined, globstar: undefined, items: undefined };
}

export class PatternIndex<T> {
  readonly #root: Node<T> = node();
  /** Patterns with at least one item. */
  #patterns = 0;
  readonly #cache = new Map<string, readonly Set<T>[]>();
  /** Patterns whose set became empty: pruned by prune() (the hub's sweep), if still empty then. */
  readonly #emptied = new Set<string>();

  /** Patterns with subscribers. */
  get size(): number {
    return this.#patterns;
  }

  /** Subscribers of one pattern. */
  count(pattern: string): number {
    return this.#find(pattern)?.items?.size ?? 0;
  }

  add(pattern: string, item: T): void {
    let n = this.#root;
    for (const seg of pattern.split('.')) {
      if (seg === '*') n = n.star ??= node();
      else if (seg === '**') n = n.globstar ??= node();
      else {
        n.children ??= new Map();
        let c = n.children.get(seg);
        if (c === undefined) {
          c = node();
          n.children.set(seg, c);
        }
        n = c;
      }
    }
    if (n.items === undefined) {
      n.items = new Set();
      this.#patterns++;
      this.#cache.clear(); // a new set: cached answers lack it
    }
    n.items.add(item);
  }

  delete(pattern: string, item: T): void {
    const n = this.#find(pattern);
    if (n?.items === undefined) return;
    n.items.delete(item);
    if (n.items.size === 0) this.#emptied.add(pattern);
  }

  /**
   * Forgets the patterns that became empty and stayed so (called from the hub's sweep, so a pattern
   * that one long-poll leaves and the next rejoins keeps its node).
   */
  prune(): void {
    if (this.#emptied.size === 0) return;
    for (const pattern of this.#emptied) {
      const path: Array<[Node<T>, string]> = [];
      let n: Node<T> | undefined = this.#root;
      for (const seg of pattern.split('.')) {
        if (n === undefined) break;
        path.push([n, seg]);
        n = seg === '*' ? n.star : seg === '**' ? n.globstar : n.children?.get(seg);
      }
      if (n?.items === undefined || n.items.size > 0) continue;
      n.items = undefined;
      this.#patterns--;
      // Unlink the nodes left with nothing, deepest first.
      for (let i = path.length - 1; i >= 0; i--) {
        const [parent, seg] = path[i]!;
        const child = seg === '*' ? parent.star : seg === '**' ? parent.globstar : parent.children?.get(seg);
        if (child === undefined || !isEmpty(child)) break;
        if (seg === '*') parent.star = undefined;
        else if (seg === '**') parent.globstar = undefined;
        else {
          parent.children?.delete(seg);
          if (parent.children?.size === 0) parent.children = undefined;
        }
      }
    }
    this.#emptied.clear();
    this.#cache.clear();
  }

  /** The sets of the patterns matching `channel` (each set once). */
  match(channel: string): readonly Set<T>[] {
    if (this.#patterns === 0) return EMPTY;
    let sets = this.#cache.get(channel);
    if (sets === undefined) {
      const found = new Set<Set<T>>();
      collect(this.#root, channel.split('.'), 0, found, new Map());
      sets = [...found];
      if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
      this.#cache.set(channel, sets);
    }
    return sets;
  }

  #find(pattern: string): Node<T> | undefined {
    let n: Node<T> | undefined = this.#root;
    for (const seg of pattern.split('.')) {
      if (n === undefined) return undefined;
      n = seg === '*' ? n.star : seg === '**' ? n.globstar : n.children?.get(seg);
    }
    return n;
  }
}

const EMPTY: readonly Set<never>[] = Object.freeze([]);

function isEmpty<T>(n: Node<T>): boolean {
  return (
    n.items === undefined && n.star === undefined && n.globstar === undefined && n.children === undefined
  );
}

/**
 * Adds the non-empty sets of every pattern under `n` that matches `segs[i..]`. Each (node, i) is
 * visited once (`seen`): without that, chained `**` (`**.**.**...`) try every split of the
 * segments among them, exponential in their number (seconds per publish for 8 of them).
 */
function collect<T>(
  n: Node<T>,
  segs: readonly string[],
  i: number,
  found: Set<Set<T>>,
  seen: Map<Node<T>, Set<number>>,
): void {
  let at = seen.get(n);
  if (at === undefined) {
    at = new Set();
    seen.set(n, at);
  } else if (at.has(i)) return;
  at.add(i);
  const g = n.globstar;
  // `**` swallows segs[i..k) for every k, zero segments included.
  if (g !== undefined) for (let k = i; k <= segs.length; k++) collect(g, segs, k, found, seen);
  if (i === segs.length) {
    if (n.items !== undefined && n.items.size > 0) found.add(n.items);
    return;
  }
  const c = n.children?.get(segs[i]!);
  if (c !== undefined) collect(c, segs, i + 1, found, seen);
  if (n.star !== undefined) collect(n.star, segs, i + 1, found, seen);
}
