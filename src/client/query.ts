// URL query building: the chapter's addURLParam, done right (fragments, trailing ? and &, arrays).
import type { Query, QueryValue } from './types.js';

const enc = encodeURIComponent;

/**
 * Encodes an object as a query string with encodeURIComponent: arrays become repeated keys,
 * `null` and `undefined` are skipped, Dates become ISO strings. A URLSearchParams or a string is
 * returned as its string.
 * @example buildQuery({ q: 'a b', tag: ['x', 'y'], page: 2, draft: null }) // 'q=a%20b&tag=x&tag=y&page=2'
 */
export function buildQuery(query: Query | null | undefined): string {
  if (!query || typeof query === 'string' || query instanceof URLSearchParams) return query ? `${query}` : '';
  const out: string[] = [];
  for (const name in query) {
    for (const v of ([] as QueryValue[]).concat(query[name] as QueryValue)) {
      if (v != null) out.push(`${enc(name)}=${enc(v instanceof Date ? v.toISOString() : `${v}`)}`);
    }
  }
  return out.join('&');
}

/**
 * Appends an encoded query string to a URL: with `?` or `&` as needed, before any `#fragment`.
 * @example withQuery('/a?x=1#top', 'y=2') // '/a?x=1&y=2#top'
 */
export function withQuery(href: string | URL, query: string): string {
  const url = `${href}`;
  if (!query) return url;
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  const sep = /[?&]$/.test(base) ? '' : base.includes('?') ? '&' : '?';
  return base + sep + query + (hash < 0 ? '' : url.slice(hash));
}

/**
 * Adds one parameter to a URL, both name and value encoded with encodeURIComponent.
 * @example addURLParam('/search?q=x', 'page', 2) // '/search?q=x&page=2'
 */
export function addURLParam(url: string | URL, name: string, value: QueryValue): string {
  return withQuery(url, buildQuery({ [name]: value }));
}
