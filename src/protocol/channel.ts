/**
 * Channel names: one or more segments of `[A-Za-z0-9_~:-]` joined by `.`, at most 200 characters.
 * Patterns (for auth and retention rules) add `*` (exactly one segment) and `**` (any number, >= 0).
 */
export const MAX_CHANNEL_LENGTH = 200;
const CHANNEL_RE = /^[A-Za-z0-9_~:-]+(?:\.[A-Za-z0-9_~:-]+)*$/;
const PATTERN_SEGMENT_RE = /^(?:[A-Za-z0-9_~:-]+|\*|\*\*)$/;

/** True when `name` is a valid channel name. */
export function isChannelName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_CHANNEL_LENGTH && CHANNEL_RE.test(name);
}

/** True when `pattern` is a valid channel pattern (`scores.*`, `chat.**`, `**`). */
export function isChannelPattern(pattern: string): boolean {
  if (pattern.length === 0 || pattern.length > MAX_CHANNEL_LENGTH) return false;
  return pattern.split('.').every((s) => PATTERN_SEGMENT_RE.test(s));
}

/** True when `name` is a pattern with a wildcard (`*` or `**` segment), not a plain channel name. */
export function isWildcard(name: string): boolean {
  return name.includes('*');
}

/**
 * Compiles a channel pattern into a matcher. `*` matches one segment, `**` any number of segments
 * (including none), anything else matches literally. Given a wildcard pattern instead of a name,
 * the matcher says whether this pattern covers all of it (every channel the other can match), so a
 * grant of `scores.*` allows subscribing to `scores.*` but one of `scores.nba` does not.
 * @example compilePattern('scores.*')('scores.nba') // true
 * @example compilePattern('scores.**')('scores.*') // true
 */
export function compilePattern(pattern: string): (channel: string) => boolean {
  if (!isChannelPattern(pattern)) throw new TypeError(`invalid channel pattern: ${JSON.stringify(pattern)}`);
  const segs = pattern.split('.');
  if (!pattern.includes('*')) return (c) => c === pattern;
  return (c) => (c.includes('*') ? coversSegments(segs, c.split('.')) : matchSegments(segs, c.split('.')));
}

/**
 * True when every channel `inner` matches is matched by `outer` (both patterns or names). Sound,
 * and exact for the patterns people write; for a few contrived `**` combinations it may answer
 * false where the sets are in fact contained, which refuses rather than over-grants.
 */
export function patternCovers(outer: string, inner: string): boolean {
  return coversSegments(outer.split('.'), inner.split('.'));
}

function coversSegments(g: readonly string[], p: readonly string[]): boolean {
  const memo = new Map<number, boolean>();
  const cov = (i: number, j: number): boolean => {
    const k = i * (p.length + 1) + j;
    const known = memo.get(k);
    if (known !== undefined) return known;
    let r: boolean;
    if (j === p.length) {
      r = true;
      for (let x = i; x < g.length; x++) if (g[x] !== '**') r = false;
    } else if (i === g.length) r = false;
    else if (g[i] === '**') r = cov(i + 1, j) || cov(i, j + 1);
    else if (p[j] === '**') r = false;
    else if (g[i] === '*') r = cov(i + 1, j + 1);
    else r = g[i] === p[j] && cov(i + 1, j + 1);
    memo.set(k, r);
    return r;
  };
  return cov(0, 0);
}

/** True when some channel matches both patterns (or names). */
export function patternsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  const memo = new Map<number, boolean>();
  const ov = (i: number, j: number): boolean => {
    const k = i * (y.length + 1) + j;
    const known = memo.get(k);
    if (known !== undefined) return known;
    let r: boolean;
    if (i === x.length && j === y.length) r = true;
    else if (i < x.length && x[i] === '**') r = ov(i + 1, j) || (j < y.length && ov(i, j + 1));
    else if (j < y.length && y[j] === '**') r = ov(i, j + 1) || (i < x.length && ov(i + 1, j));
    else if (i === x.length || j === y.length) r = false;
    else r = (x[i] === '*' || y[j] === '*' || x[i] === y[j]) && ov(i + 1, j + 1);
    memo.set(k, r);
    return r;
  };
  return ov(0, 0);
}

/**
 * Glob matching over segments, with `**` as the star. Greedy with one backtrack point, the last
 * `**` seen: when the segments after it fail, that `**` swallows one more channel segment and the
 * rest is tried again. An earlier `**` never needs revisiting (whatever a later one can reach, it
 * reaches from any earlier split too), so the work is at most pattern segments x channel segments
 * (about 100 x 100 at the longest names), never the exponential search of trying every split of
 * every `**` (a grant like `**.**.**.**.**.**.**.**.**.x` took seconds per check that way).
 */
function matchSegments(p: readonly string[], c: readonly string[]): boolean {
  let pi = 0;
  let ci = 0;
  let star = -1;
  let resume = 0;
  while (ci < c.length) {
    const s = p[pi];
    if (s === '**') {
      star = pi++;
      resume = ci;
    } else if (s !== undefined && (s === '*' || s === c[ci])) {
      pi++;
      ci++;
    } else if (star !== -1) {
      pi = star + 1;
      ci = ++resume;
    } else return false;
  }
  while (p[pi] === '**') pi++;
  return pi === p.length;
}

/**
 * Parses the channel list of a subscribe path (`a.b,c.d`, and with `maxPatterns` > 0 wildcard
 * patterns such as `scores.*`): percent-decoded, validated, de-duplicated in first-seen order.
 * Returns an error string instead of throwing so the router can answer 400.
 */
export function parseChannelList(
  raw: string,
  max: number,
  maxPatterns = 0,
): string[] | { error: 'bad' | 'too-many'; detail: string } {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return { error: 'bad', detail: 'the channel list is not valid percent-encoding' };
  }
  const seen = new Set<string>();
  let patterns = 0;
  for (const name of decoded.split(',')) {
    if (maxPatterns > 0 && isWildcard(name) && isChannelPattern(name)) {
      if (!seen.has(name) && ++patterns > maxPatterns)
        return { error: 'too-many', detail: `at most ${maxPatterns} wildcard patterns per subscription` };
      seen.add(name);
      continue;
    }
    if (!isChannelName(name)) {
      return {
        error: 'bad',
        detail: `channel names are segments of [A-Za-z0-9_~:-] joined by '.', at most ${MAX_CHANNEL_LENGTH} characters`,
      };
    }
    seen.add(name);
  }
  if (seen.size > max) return { error: 'too-many', detail: `at most ${max} channels per subscription` };
  return [...seen];
}
