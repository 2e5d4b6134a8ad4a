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
  return (c) => matchSegments(segs, 0, c.split('.'), 0);
}

function matchSegments(p: string[], pi: number, c: string[], ci: number): boolean {
  while (pi < p.length) {
    const s = p[pi];
    if (s === '**') {
      // `**` may swallow zero or more segments: try every split point.
      for (let k = ci; k <= c.length; k++) if (matchSegments(p, pi + 1, c, k)) return true;
      return false;
    }
    if (ci >= c.length || (s !== '*' && s !== c[ci])) return false;
    pi++;
    ci++;
  }
  return ci === c.length;
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
