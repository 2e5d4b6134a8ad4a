import { HubError } from './respond.js';

/**
 * Bounds on what a publish body may cost to parse and to keep, checked on the raw bytes before
 * any parser runs. The rate limits count publishes, not their cost: without these, one 1 MiB body
 * of 110,000 urlencoded fields costs a third of a second of CPU, and a JSON value nested 20,000
 * deep is parsed fine by V8 but overflows the stack of every later `JSON.stringify` (so a store
 * would keep a message that no answer can ever serialize). Every way of publishing (Node's path,
 * the fast lane, JSONP and ping publishes, WebSocket `publish` frames) calls these.
 */
export interface BodyBounds {
  /** Deepest nesting of arrays and objects in a JSON body (`limits.maxJsonDepth`). */
  readonly maxJsonDepth: number;
  /** Most fields (urlencoded) or parts (multipart) in one form body (`limits.maxFields`). */
  readonly maxFields: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const AMPERSAND = 0x26;

/**
 * True when the JSON text nests arrays/objects deeper than `max`. One pass over the bytes, skipping
 * strings: byte by byte for their first bytes (most strings are short, where a native call costs
 * more than it saves), then with the native `indexOf` (a long string is usually most of a large
 * body). It does not validate: invalid JSON is left for `JSON.parse` to refuse. Valid JSON needs
 * two bytes per level, so a short body is never scanned (the common small publish costs nothing).
 * About a quarter of `JSON.parse`'s time on structure-heavy bodies, a fraction of a percent on
 * string-heavy ones.
 */
export function jsonTooDeep(bytes: Uint8Array, max: number): boolean {
  const n = bytes.length;
  if (n <= 2 * max + 1) return false;
  let depth = 0;
  let i = 0;
  while (i < n) {
    const b = bytes[i++];
    if (b === QUOTE) {
      i = stringEnd(bytes, i);
      if (i === -1) return false;
    } else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** Bytes of a string scanned one by one before switching to `indexOf`. */
const SHORT_STRING = 128;

/** The index just past the quote closing the string whose content starts at `i`; -1 if none. */
function stringEnd(bytes: Uint8Array, i: number): number {
  const n = bytes.length;
  const short = Math.min(n, i + SHORT_STRING);
  while (i < short) {
    const c = bytes[i++];
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  if (i > n) return -1;
  // A long string: find the next quote not escaped (preceded by an even number of backslashes).
  // `i` is never inside an escape here: the loop above stepped over every escape it began.
  let j = i - 1;
  for (;;) {
    j = bytes.indexOf(QUOTE, j + 1);
    if (j === -1) return -1;
    let k = j - 1;
    while (k >= i && bytes[k] === BACKSLASH) k--;
    if ((j - 1 - k) % 2 === 0) return j + 1;
  }
}

/** Refuses (400 `ERR_JSON_TOO_DEEP`) a JSON text nested deeper than the bound. */
export function checkJsonDepth(bytes: Uint8Array, max: number): void {
  if (jsonTooDeep(bytes, max)) {
    throw new HubError(
      'ERR_JSON_TOO_DEEP',
      `the JSON nests arrays and objects more than ${max} deep (limits.maxJsonDepth)`,
    );
  }
}

/**
 * Refuses (413 `ERR_TOO_MANY_FIELDS`) an urlencoded text with more than `max` fields, counting
 * `&` separators and stopping at the first one past the bound (so the count itself is bounded).
 * Empty pieces (`a=1&&b=2`) count too: nobody sends them but an attacker.
 */
export function checkFieldCount(bytes: Uint8Array, max: number): void {
  if (bytes.length <= max) return;
  let count = 1;
  for (let i = bytes.indexOf(AMPERSAND); i !== -1; i = bytes.indexOf(AMPERSAND, i + 1)) {
    if (++count > max) throw tooManyFields(max);
  }
}

/**
 * Refuses a multipart body with more than `max` parts: counts the `--boundary` delimiters (a body
 * of n parts has n + 1), stopping past the bound. A body without a usable boundary is left to the
 * multipart parser to refuse.
 */
export function checkPartCount(body: Buffer, contentType: string, max: number): void {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (boundary === undefined) return;
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  let count = 0;
  for (let i = body.indexOf(delimiter); i !== -1; i = body.indexOf(delimiter, i + delimiter.length)) {
    if (++count > max + 1) throw tooManyFields(max);
  }
}

function tooManyFields(max: number): HubError {
  return new HubError('ERR_TOO_MANY_FIELDS', `the form has more than ${max} fields (limits.maxFields)`);
}
