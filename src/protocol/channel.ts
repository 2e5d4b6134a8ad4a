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

/**
 * Compiles a channel pattern into a matcher. `*` matches one segment, `**` any number of segments
 * (including none), anything else matches literally.
 * @example compilePattern('scores.*')('scores.nba') // true
 */
export function compilePattern(pattern: string): (channel: string) => boolean {
  if (!isChannelPattern(pattern)) throw new TypeError(`invalid channel pattern: ${JSON.stringify(pattern)}`);
  if (!pattern.includes('*')) return (c) => c === pattern;
  const segs = pattern.split('.');
  return (c) => matchSegments(segs, c.split('.'));
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
 * Parses the channel list of a subscribe path (`a.b,c.d`): percent-decoded, validated, de-duplicated
 * in first-seen order. Returns an error string instead of throwing so the router can answer 400.
 */
export function parseChannelList(
  raw: string,
  max: number,
): string[] | { error: 'bad' | 'too-many'; detail: string } {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return { error: 'bad', detail: 'the channel list is not valid percent-encoding' };
  }
  const seen = new Set<string>();
  for (const name of decoded.split(',')) {
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
