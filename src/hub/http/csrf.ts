import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ResolvedAuth } from '../auth/config.js';
import { type Credentials, cookieValue } from './auth.js';
import { HubError } from './respond.js';

/** The CSRF settings: `options.auth.csrf`, or the defaults when access is decided by a hook alone. */
export type CsrfSettings = Pick<ResolvedAuth, 'csrfOrigins' | 'csrfCookie'>;

const DEFAULT_CSRF: CsrfSettings = Object.freeze({ csrfOrigins: undefined, csrfCookie: 'cometa_csrf' });

/** The hub's CSRF settings (from `options.auth`, else the defaults). */
export function csrfSettings(options: { readonly auth: ResolvedAuth | null }): CsrfSettings {
  return options.auth ?? DEFAULT_CSRF;
}

/**
 * CSRF defences for state-changing requests allowed on the strength of an ambient credential: the
 * token cookie, or a cookie (or cached HTTP auth, a client certificate) a `hub.authorize` hook
 * relied on. A browser attaches those to any request to the hub, whichever page made it. Bearer
 * tokens and `?token=` are not ambient, so a forging page cannot use them, and are not checked
 * here. See docs/security.md.
 *
 * Such a publish or delete must have:
 * 1. an `Origin` that is allowed (`auth.csrf.origins`, else `cors.origins` without `*`, or the
 *    hub's own host). Browsers always send Origin on cross-origin and same-origin POST/DELETE and
 *    pages cannot forge it; a request without one is refused (non-browser clients use Bearer);
 * 2. and either a custom header (`X-Cometa: 1` or `X-Requested-With`: a cross-origin page can only
 *    send those after a CORS preflight the hub answers for allowed origins only, and a plain form
 *    cannot send them at all), or `X-CSRF-Token` equal to the token's `csrf` claim (tied to the
 *    signed session) or, without such a claim, to the `cometa_csrf` cookie (double submit).
 *
 * A GET (or HEAD) with side effects cannot carry a custom header or prove its Origin (an `<img>`
 * sends neither), so it is refused outright when authenticated by the cookie.
 */
export function checkCsrf(
  req: IncomingMessage,
  creds: Credentials,
  auth: CsrfSettings,
  corsAllowed: (origin: string) => boolean,
): void {
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') {
    throw new HubError(
      'ERR_CSRF',
      'a GET that changes state cannot rest on a cookie or other ambient credential; send the token as ?token= or Authorization: Bearer',
    );
  }
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') {
    throw new HubError(
      'ERR_CSRF',
      'a request that changes state on the strength of a cookie needs an Origin header',
    );
  }
  if (!originAllowed(origin, req, auth, corsAllowed)) {
    throw new HubError('ERR_CSRF', 'this Origin may not change state with the session cookie');
  }
  if (req.headers['x-cometa'] === '1') return;
  const xrw = req.headers['x-requested-with'];
  if (typeof xrw === 'string' && xrw !== '') return;
  const sent = req.headers['x-csrf-token'];
  if (typeof sent === 'string' && sent !== '') {
    const expected = creds.claims?.csrf ?? cookieValue(req, auth.csrfCookie);
    if (expected !== undefined && expected !== '' && same(sent, expected)) return;
    throw new HubError('ERR_CSRF', 'X-CSRF-Token does not match the session');
  }
  throw new HubError(
    'ERR_CSRF',
    'a request that changes state on the strength of a cookie needs X-Cometa: 1, X-Requested-With or X-CSRF-Token',
  );
}

/** True when `origin` may change state: the CSRF list (or the CORS list without `*`), or same host. */
export function originAllowed(
  origin: string,
  req: IncomingMessage,
  auth: CsrfSettings,
  corsAllowed: (origin: string) => boolean,
): boolean {
  if (auth.csrfOrigins !== undefined) {
    if (auth.csrfOrigins.includes(origin)) return true;
  } else if (corsAllowed(origin) && !corsAllowsAny(corsAllowed)) return true;
  // Same origin: a browser's Host is the page's host when the page is served by the hub itself.
  const host = req.headers.host;
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * True when a state-changing request (or a WebSocket) from `origin` may proceed at all: an origin
 * CORS allows, or one allowed to act with the session (`auth.csrf.origins`, the hub's own pages).
 * The hub's own pages are not cross-origin, so `cors.origins` need not list them.
 */
export function originMayChangeState(
  origin: string,
  req: IncomingMessage,
  auth: CsrfSettings,
  corsAllowed: (origin: string) => boolean,
): boolean {
  return corsAllowed(origin) || originAllowed(origin, req, auth, corsAllowed);
}

/** `cors.origins: ['*']` lets any page read; it must never mean "any page may write with cookies". */
function corsAllowsAny(allowed: (origin: string) => boolean): boolean {
  return allowed('https://cometa-csrf-probe.invalid');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
