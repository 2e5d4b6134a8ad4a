import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { JWTPayload } from 'jose';
import { type Claims, granted, TokenError, TokenVerifier } from '../auth/token.js';
import type { HubCore } from '../core.js';
import { checkCsrf, csrfSettings } from './csrf.js';
import { checkPublishRate, clientIp } from './limits.js';
import { HubError } from './respond.js';

/** What a request wants to do with a channel. */
export type AuthAction = 'subscribe' | 'publish';

/** Where the token of a request came from (CSRF defences apply to `cookie` only). */
export type TokenSource = 'header' | 'query' | 'cookie';

/**
 * The credentials of one request or connection, as checked at its start. The WebSocket transport
 * keeps them for the connection's life and passes them to {@link authorize} for every
 * `subscribe`/`publish` frame.
 */
export interface Credentials {
  /** The verified token, or null when none was presented (or none was needed). */
  readonly claims: Claims | null;
  readonly source: TokenSource | null;
  /**
   * When the subscription must end with reason `auth` (ms since epoch): the token's expiry when a
   * channel needed it, else 0 (never). The hub's sweep checks it; no per-connection timer.
   */
  readonly expiresAt: number;
  /** The request the credentials came with (handed to `hub.authorize` hooks). */
  readonly req: IncomingMessage | undefined;
  /**
   * Set when an ambient credential (the cookie, or whatever the hook's `ambient` test finds) may
   * not be relied on for this request or connection: a JSONP subscription (any page can include
   * the script), a WebSocket whose Origin may not act with the session. A decision that rests on
   * one is then refused with this 403 (see {@link authorize}).
   */
  readonly ambientRefusal?: { code: 'ERR_FORBIDDEN' | 'ERR_CSRF'; message: string } | undefined;
}

/** What an {@link AuthorizeHook} is asked. */
export interface AuthorizeContext {
  action: AuthAction;
  channel: string;
  /** The verified token payload, or null when no (valid) token came with the request. */
  claims: JWTPayload | null;
  /** The request (for a WebSocket frame: the upgrade request). Undefined for server-side calls. */
  req: IncomingMessage | undefined;
  /** What the token's grants alone decide (false without a token). */
  granted: boolean;
}

/**
 * An app's own access decision (`hub.authorize(hook)`): true allows, false refuses (403, or 401
 * when a token is configured and none came). It replaces the grant check for channels that are
 * not public, so it can consult a session store, a database, `ctx.granted`...
 */
export type AuthorizeHook = (
  ctx: AuthorizeContext,
) => boolean | AuthorizeMember | Promise<boolean | AuthorizeMember>;

/**
 * A hook's yes that also names the user. To a subscription: who it is on presence channels
 * (docs/presence.md, instead of a token's `sub`), `info` what others see of it. To a publish: whose
 * idempotency keys it uses (instead of a token's `sub`).
 */
export interface AuthorizeMember {
  member: string;
  info?: unknown;
}

/** Members named by hooks, per request's credentials (each hooked request has its own object). */
const hookMembers = new WeakMap<Credentials, AuthorizeMember>();

/** The member a `hub.authorize` hook named for these credentials, if any. */
export function hookMember(creds: Credentials | undefined): AuthorizeMember | undefined {
  return creds === undefined ? undefined : hookMembers.get(creds);
}

/** Publishers named by hooks (a `{ member }` answer to `publish`), per credentials. */
const hookPublishers = new WeakMap<Credentials, string>();

/**
 * Whose idempotency keys a publish uses (idempotency.ts): the member a `hub.authorize` hook named
 * for the publish, else the token's subject, else '' (anonymous publishers share one scope). A
 * hook-named scope is marked so that no subject can spell it (members have no spaces).
 */
export function publisherScope(creds: Credentials | undefined): string {
  if (creds === undefined) return '';
  const member = hookPublishers.get(creds);
  if (member !== undefined) return `member ${member}`;
  return creds.claims?.subject ?? '';
}

function isMemberAnswer(v: unknown): v is AuthorizeMember {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as AuthorizeMember).member === 'string' &&
    /^[\x21-\x7e]{1,128}$/.test((v as AuthorizeMember).member)
  );
}

/** Options of `hub.authorize(hook, options)`. */
export interface AuthorizeHookOptions {
  /**
   * Whether a request carries a credential the browser attaches by itself, whichever page made
   * the request (a session cookie, cached HTTP auth, a TLS client certificate). When the hook
   * allows such a request, the hub applies the CSRF defences to it (docs/security.md): an allowed
   * Origin and a custom header for publishes, no JSONP, an allowed Origin for WebSockets. Return
   * false only for requests whose hook decision reads nothing ambient.
   * @default {@link ambientByDefault}: a Cookie header, an Authorization header other than Bearer, or a TLS client certificate
   */
  ambient?: (req: IncomingMessage) => boolean;
}

/**
 * The default test for ambient credentials: everything a browser sends without the page asking.
 * Cookies (any cookie: the hook may read the app's own session), `Authorization` schemes browsers
 * cache and replay (Basic, Digest, Negotiate; a Bearer token is only sent by script), and a
 * client certificate on a TLS socket.
 */
export function ambientByDefault(req: IncomingMessage): boolean {
  if (req.headers.cookie !== undefined) return true;
  const authz = req.headers.authorization;
  if (authz !== undefined && !/^Bearer[ \t]/i.test(authz)) return true;
  return (req.socket as Partial<TLSSocket> | null)?.authorized === true;
}

interface AuthState {
  verifier: TokenVerifier | undefined;
  hook: AuthorizeHook | undefined;
  ambient: (req: IncomingMessage) => boolean;
}

const states = new WeakMap<HubCore, AuthState>();

function state(core: HubCore): AuthState {
  let s = states.get(core);
  if (s === undefined) {
    const auth = core.options.auth;
    s = { verifier: auth ? new TokenVerifier(auth) : undefined, hook: undefined, ambient: ambientByDefault };
    states.set(core, s);
  }
  return s;
}

/** Installs (or with null, removes) the app's authorize hook. */
export function setAuthorizeHook(
  core: HubCore,
  hook: AuthorizeHook | null,
  options: AuthorizeHookOptions = {},
): void {
  if (hook !== null && typeof hook !== 'function')
    throw new TypeError('hub.authorize(hook): hook must be a function');
  if (options.ambient !== undefined && typeof options.ambient !== 'function')
    throw new TypeError('hub.authorize(hook, { ambient }): ambient must be a function');
  const s = state(core);
  s.hook = hook ?? undefined;
  s.ambient = options.ambient ?? ambientByDefault;
}

/** True when access is checked at all: `options.auth` is configured or a hook is installed. */
export function authActive(core: HubCore): boolean {
  const s = state(core);
  return s.verifier !== undefined || s.hook !== undefined;
}

/** Reads one cookie by name from a Cookie header (no decoding: token values are base64url). */
export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) {
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return undefined;
}

/**
 * Finds the token of a request: `Authorization: Bearer` (Ajax), `?token=` (EventSource, JSONP,
 * image pings, XDomainRequest: they cannot set headers), then the cookie. The first present wins.
 */
export function findToken(
  req: IncomingMessage,
  query: URLSearchParams,
  cookie: string,
): { token: string; source: TokenSource } | undefined {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
    if (m) return { token: m[1]!, source: 'header' };
  }
  const q = query.get('token');
  if (q !== null && q !== '') return { token: q, source: 'query' };
  const c = cookieValue(req, cookie);
  if (c !== undefined && c !== '') return { token: c, source: 'cookie' };
  return undefined;
}

/** A header-safe quoted-string for WWW-Authenticate. */
function quoted(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]|["\\]/g, '')}"`;
}

function unauthorized(description: string | undefined): HubError {
  // RFC 6750 §3: no error code when the request had no token at all, invalid_token otherwise.
  const header =
    description === undefined
      ? 'Bearer realm="cometa"'
      : `Bearer realm="cometa", error="invalid_token", error_description=${quoted(description)}`;
  return new HubError(
    'ERR_UNAUTHORIZED',
    description === undefined ? 'a token is needed for this channel' : `invalid token: ${description}`,
    { 'WWW-Authenticate': header },
  );
}

/** No credentials (anonymous). */
export const NONE: Credentials = Object.freeze({ claims: null, source: null, expiresAt: 0, req: undefined });

/**
 * Verifies the token of a request, if it has one. Throws 401 (`ERR_UNAUTHORIZED` with
 * `WWW-Authenticate: Bearer … error="invalid_token"`) for an invalid or expired token.
 */
export async function authenticate(
  core: HubCore,
  req: IncomingMessage,
  query: URLSearchParams,
  opts: { ignoreBadCookie?: boolean } = {},
): Promise<Credentials> {
  const s = state(core);
  const auth = core.options.auth;
  if (s.verifier === undefined || auth === null) return { ...NONE, req };
  const found = findToken(req, query, auth.cookie);
  if (found === undefined) return { ...NONE, req };
  let claims: Claims;
  try {
    claims = await s.verifier.verify(found.token);
  } catch (err) {
    // A stale cookie is the browser's, not the client's choice: where nothing needs it, ignore it.
    if (err instanceof TokenError && found.source === 'cookie' && opts.ignoreBadCookie === true)
      return { ...NONE, req };
    if (err instanceof TokenError) throw unauthorized(err.message);
    throw err;
  }
  return { claims, source: found.source, expiresAt: claims.expiresAt, req };
}

function isPublic(core: HubCore, action: AuthAction, channel: string): boolean {
  const policy = core.options.channelPolicy(channel);
  return policy[action] === 'public';
}

/**
 * Decides one action on one channel for credentials checked earlier (the WebSocket transport calls
 * this for every `subscribe` and `publish` frame). Resolves when allowed, with whether the decision
 * rests on an ambient credential (then the caller owes the CSRF defences: {@link guardPublish});
 * rejects with a HubError: `ERR_UNAUTHORIZED` (401: no token, or it expired since),
 * `ERR_FORBIDDEN` (403: not granted) or `ERR_CSRF` (403: it rests on an ambient credential that
 * `creds.ambientRefusal` says may not be used here).
 *
 * A decision rests on an ambient credential when the token came from the cookie, or when the hook
 * allowed a request its `ambient` test flags, unless a Bearer header came with it or a `?token=`
 * grants the channel by itself (see vouchedByToken).
 * @example
 * // in a WebSocket frame handler
 * await authorize(hub, sub.credentials, 'publish', 'chat.room1');
 */
export async function authorize(
  core: HubCore,
  creds: Credentials,
  action: AuthAction,
  channel: string,
): Promise<boolean> {
  if (!authActive(core) || isPublic(core, action, channel)) return false;
  const s = state(core);
  const claims = creds.claims;
  if (claims !== null && claims.expiresAt !== 0 && Date.now() >= claims.expiresAt) {
    throw unauthorized('the token expired');
  }
  const fromGrants = claims !== null && granted(claims.grants, action, channel);
  let ok = fromGrants;
  if (s.hook !== undefined) {
    try {
      const answer = await s.hook({
        action,
        channel,
        claims: claims?.payload ?? null,
        req: creds.req,
        granted: fromGrants,
      });
      ok = answer === true || isMemberAnswer(answer);
      if (ok && isMemberAnswer(answer) && creds !== NONE) {
        if (action === 'subscribe') hookMembers.set(creds, answer);
        else hookPublishers.set(creds, answer.member);
      }
    } catch (err) {
      // A failing hook must not open access: refuse, and leave the details to the log.
      core.log?.error({ err, action, channel }, 'authorize hook failed; access refused');
      ok = false;
    }
  }
  if (!ok) {
    if (claims === null && s.verifier !== undefined) throw unauthorized(undefined);
    throw new HubError('ERR_FORBIDDEN', `not allowed to ${action} on ${channel}`);
  }
  const ambient =
    creds.source === 'cookie' ||
    (s.hook !== undefined && !vouchedByToken(creds.source, fromGrants) && hookSawAmbient(core, s, creds.req));
  const refusal = creds.ambientRefusal;
  if (ambient && refusal !== undefined) throw new HubError(refusal.code, refusal.message);
  return ambient;
}

/**
 * True when a hook's yes cannot be a forged request's, whatever cookies came along. A Bearer header
 * only leaves a browser through script, cross-origin only after a preflight, and a credentialed
 * preflight only succeeds for a listed `cors.origins` page (never with `*`). A `?token=` can be put
 * in any URL by any page, but one that grants the channel by itself gives the forger nothing it
 * could not do with that token alone.
 */
function vouchedByToken(source: TokenSource | null, fromGrants: boolean): boolean {
  return source === 'header' || (source === 'query' && fromGrants);
}

/**
 * True when `creds` identify the requester by an ambient credential: the token cookie, or a
 * request a `hub.authorize` hook decided on whose `ambient` test holds (and no Bearer header).
 * Presence takes such an identity only from pages allowed to act with the session.
 */
export function ambientIdentity(core: HubCore, creds: Credentials): boolean {
  if (creds.source === 'cookie') return true;
  const s = state(core);
  return s.hook !== undefined && creds.source !== 'header' && hookSawAmbient(core, s, creds.req);
}

/** The hook's `ambient` test on a request; one that throws counts as ambient (the safe side). */
function hookSawAmbient(core: HubCore, s: AuthState, req: IncomingMessage | undefined): boolean {
  if (req === undefined) return false;
  try {
    return s.ambient(req) !== false;
  } catch (err) {
    core.log?.error({ err }, 'authorize ambient test failed; treating the request as ambient');
    return true;
  }
}

/**
 * Checks a subscribe request (any transport, WebSocket upgrade included) for all its channels.
 * Public channels need nothing; the others need a token (or the hook's yes). The returned
 * credentials carry `expiresAt` for the subscription.
 */
export async function guardSubscribe(
  core: HubCore,
  req: IncomingMessage,
  query: URLSearchParams,
  channels: readonly string[],
  opts: { socket?: boolean; originMayAct?: boolean } = {},
): Promise<Credentials> {
  if (!authActive(core)) return NONE;
  const needs = channels.filter((c) => !isPublic(core, 'subscribe', c));
  // A WebSocket keeps its token for later subscribe/publish frames, so it is checked whenever sent;
  // an HTTP subscription to public channels only ignores it (a stale cookie must not break them).
  if (needs.length === 0 && !opts.socket) return NONE;
  let creds = await authenticate(core, req, query, { ignoreBadCookie: needs.length === 0 });
  const refusal = query.has('callback')
    ? JSONP_AMBIENT
    : opts.socket === true && opts.originMayAct !== true
      ? SOCKET_AMBIENT
      : undefined;
  if (refusal !== undefined) creds = { ...creds, ambientRefusal: refusal };
  for (const c of needs) await authorize(core, creds, 'subscribe', c);
  // A socket's later frames are authorized with these (a hook reads the upgrade request).
  if (needs.length === 0 && creds.claims === null && state(core).hook === undefined) return NONE;
  return creds;
}

/** Any page can include a JSONP script (the browser attaches its cookies) and read the data. */
const JSONP_AMBIENT = Object.freeze({
  code: 'ERR_FORBIDDEN',
  message:
    'JSONP cannot be authenticated by a cookie or other ambient credential (any page could read the answer); send ?token=',
} as const);

/** A browser attaches cookies to a cross-site WebSocket too (cross-site WebSocket hijacking). */
const SOCKET_AMBIENT = Object.freeze({
  code: 'ERR_CSRF',
  message:
    'a WebSocket authenticated by a cookie or other ambient credential needs an Origin allowed to act with the session',
} as const);

/**
 * True when subscribing to `channels` over HTTP checks credentials (auth is on and one of them is
 * not public). When false, guardSubscribe() looks at no token, cookie or header.
 */
export function subscribeNeedsCredentials(core: HubCore, channels: readonly string[]): boolean {
  if (!authActive(core)) return false;
  for (const c of channels) if (!isPublic(core, 'subscribe', c)) return true;
  return false;
}

/** True when publishing on `channel` checks credentials (auth is on and the channel is not public). */
export function publishNeedsCredentials(core: HubCore, channel: string): boolean {
  return authActive(core) && !isPublic(core, 'publish', channel);
}

/**
 * Checks a state-changing request on a channel (publish, delete; GET publishes and pings too):
 * token and grant (`publish`), CSRF defences when the decision rests on an ambient credential
 * (the token cookie, or a cookie or other ambient credential a `hub.authorize` hook allowed), and the
 * publish rate limits (per token and per IP). Every way of publishing over HTTP goes through it, except the publish fast lane
 * (fast-lane.ts), which takes only requests that need no credentials and applies the rate limit itself.
 */
export async function guardPublish(
  core: HubCore,
  req: IncomingMessage,
  query: URLSearchParams,
  channel: string,
  cors: { allowed: (origin: string) => boolean },
): Promise<Credentials> {
  let creds = NONE;
  if (publishNeedsCredentials(core, channel)) {
    creds = await authenticate(core, req, query);
    // Resting on something the browser attached by itself: prove the page meant it (csrf.ts).
    if (await authorize(core, creds, 'publish', channel))
      checkCsrf(req, creds, csrfSettings(core.options), cors.allowed);
  }
  checkPublishRate(core, clientIp(core, req), creds);
  return creds;
}

/** Checks a read of a channel's info (`GET /pub/{channel}`): it needs the `subscribe` grant. */
export async function guardInfo(
  core: HubCore,
  req: IncomingMessage,
  query: URLSearchParams,
  channel: string,
): Promise<void> {
  await guardSubscribe(core, req, query, [channel]);
}
