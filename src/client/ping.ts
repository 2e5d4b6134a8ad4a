// Fire-and-forget requests: the chapter's image ping (new Image(), a GET whose response cannot be
// read) and navigator.sendBeacon, which falls back to the ping where it is missing or refuses.

import { tag } from './body.js';
import { browserOnly, CometaError } from './errors.js';
import { buildQuery, withQuery } from './query.js';
import type { Query } from './types.js';

// Images in flight: referenced so that they are not garbage-collected before their request ends.
const inFlight = new Set<HTMLImageElement>();

/**
 * Sends a GET with `params` in the query by loading it as an image. Resolves `true` when the
 * response was an image (load), `false` when it was not (error) — the body cannot be read either way.
 * Rejects with ERR_BROWSER_ONLY outside browsers.
 * @example ping('/track', { event: 'signup', plan: 'pro' });
 */
export function ping(url: string | URL, params?: Query): Promise<boolean> {
  return new Promise((resolve) => {
    if (typeof Image !== 'function') throw browserOnly('ping');
    const img = new Image();
    inFlight.add(img);
    img.onload = img.onerror = (e) => {
      inFlight.delete(img);
      resolve((e as Event).type === 'load');
    };
    img.src = withQuery(url, buildQuery(params));
  });
}

/**
 * Queues a POST of `data` with navigator.sendBeacon (it survives the page unloading). A plain object
 * is sent urlencoded (a CORS-safelisted type: no preflight). Where sendBeacon is missing or refuses
 * the data, falls back to {@link ping} with the data in the query (objects, URLSearchParams and
 * query strings only; other data rejects with ERR_NETWORK). Resolves with the way it was sent.
 * @example window.addEventListener('pagehide', () => beacon('/analytics', { t: Date.now() }));
 */
export async function beacon(
  url: string | URL,
  data?: Query | Blob | FormData | ArrayBuffer | ArrayBufferView | null,
): Promise<'beacon' | 'ping'> {
  const body = tag(data) === 'Object' ? new URLSearchParams(buildQuery(data as Query)) : data;
  const nav = typeof navigator === 'object' ? navigator : undefined;
  if (nav?.sendBeacon?.(url, body as BodyInit | null)) return 'beacon';
  if (data != null && !/^(Object|URLSearchParams|String)$/.test(tag(data))) {
    throw new CometaError('ERR_NETWORK', 'sendBeacon refused the data and a ping cannot carry it');
  }
  await ping(url, data as Query);
  return 'ping';
}
