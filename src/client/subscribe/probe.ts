// What a failed open says: one plain GET of the subscription as a poll (answered at once) tells a
// transport that is blocked (the hub answers) from a hub that is down (nothing answers) and from a
// refusal that no transport can cure (a 4xx: malformed cursor, too many channels, 401, 403).
import { type CometaError, httpError } from '../errors.js';

/**
 * `up`: the hub answers the poll, so the transport is what failed (fall back); `down`: no answer at
 * all (retry later on the same transport); `busy`: 5xx, 408 or 429 (retry later); an error: a
 * permanent refusal (end the subscription).
 */
export type Verdict = 'up' | 'down' | 'busy' | CometaError;

export async function probe(url: string, signal: AbortSignal): Promise<Verdict> {
  const init: RequestInit = { mode: 'no-cors', credentials: 'include', cache: 'no-store', signal };
  let r: Response;
  try {
    // no-cors first: it fails only when no server answers (refused, DNS, offline), CORS or not.
    // With cookies, as WebSocket and JSONP subscriptions send them.
    r = await fetch(url, init);
    if (r.type === 'opaque') {
      // Cross-origin: ask again with CORS to read the answer, with cookies if the hub's CORS allows
      // them, else without. Refused, the hub is still up (and a transport that needs no CORS, such
      // as JSONP or WebSocket, may work); so is it when only the cookies were missing (401/403).
      const opaque = r;
      init.mode = 'cors';
      r = await fetch(url, init).catch(async () => {
        init.credentials = 'omit';
        const x = await fetch(url, init).catch(() => opaque);
        return x.status === 401 || x.status === 403 ? opaque : x;
      });
    }
  } catch {
    return 'down';
  }
  const s = r.status;
  if (s < 300 || s === 501) return 'up'; // 501: long-poll is off on this hub, so it cannot judge
  if (s >= 500 || s === 408 || s === 429) return 'busy';
  return httpError('GET', url, {
    status: s,
    statusText: r.statusText,
    data: await r.json().catch(() => null),
  });
}
