// The client's one error class and its guards. Only the *type* of the code registry is imported:
// the registry's message table stays out of the browser bundle.
import type { ClientErrorCode } from '../protocol/errors.js';
import type { CometaResponse } from './types.js';

/** Extra facts an error carries: `ERR_HTTP_STATUS` has the response's status, headers and body. */
export interface CometaErrorDetails {
  /** HTTP status (`ERR_HTTP_STATUS` only). */
  status?: number;
  /** Response headers (`ERR_HTTP_STATUS` only). */
  headers?: Headers;
  /** The response body, decoded as `responseType` (raw text when it would not decode). */
  data?: unknown;
  /** The whole response (`ERR_HTTP_STATUS` only). */
  response?: CometaResponse;
  /** What caused it: the signal's abort reason, the platform's error, the JSON SyntaxError. */
  cause?: unknown;
}

/**
 * Every error cometa/client throws. `code` is stable (see docs/errors.md); the message is for humans.
 * Prefer the `isX()` guards to `instanceof`: they also recognise errors from another realm (an
 * iframe or a second copy of the library).
 * @example
 * try { await get('/api/me'); } catch (e) {
 *   if (isHTTPError(e) && e.status === 401) location.assign('/login');
 * }
 */
export class CometaError extends Error {
  /** Stable machine-readable code, e.g. `ERR_TIMEOUT`. */
  declare readonly code: ClientErrorCode;
  declare status?: number;
  declare headers?: Headers;
  declare data?: unknown;
  declare response?: CometaResponse;

  constructor(code: ClientErrorCode, message: string, details?: CometaErrorDetails) {
    super(`cometa: ${message}`);
    // Plain assignments, not class fields: fields compile to a defineProperty helper for old targets.
    Object.assign(this, { name: 'CometaError', code }, details);
  }
}

/** A CometaError with code `ERR_HTTP_STATUS`: the status failed `validateStatus`. */
export interface HTTPError<T = unknown> extends CometaError {
  code: 'ERR_HTTP_STATUS';
  status: number;
  headers: Headers;
  data: T;
  response: CometaResponse<T>;
}

/**
 * True when `e` is a CometaError (of `code`, when given). Checks the `name` and `code` brand rather
 * than the prototype, so it works across realms.
 * @example if (isCometaError(e, 'ERR_PARSE')) showRaw(e.data);
 */
export function isCometaError(e: unknown, code?: ClientErrorCode): e is CometaError {
  const x = e as CometaError | null;
  return !!x && x.name === 'CometaError' && !!x.code && (!code || x.code === code);
}

/** True for `ERR_TIMEOUT`: `timeout` ms passed before the response (or the JSONP call) came. */
export const isTimeoutError = (e: unknown): e is CometaError => isCometaError(e, 'ERR_TIMEOUT');
/** True for `ERR_ABORTED`: the request's AbortSignal fired; `cause` is the signal's reason. */
export const isAbortError = (e: unknown): e is CometaError => isCometaError(e, 'ERR_ABORTED');
/** True for `ERR_NETWORK`: no response at all (offline, DNS, refused connection, CORS refusal). */
export const isNetworkError = (e: unknown): e is CometaError => isCometaError(e, 'ERR_NETWORK');
/** True for `ERR_HTTP_STATUS`; narrows to {@link HTTPError} with `status`, `headers`, `data`. */
export const isHTTPError = <T = unknown>(e: unknown): e is HTTPError<T> =>
  isCometaError(e, 'ERR_HTTP_STATUS');
/** True for `ERR_PARSE`: the body did not decode as `responseType`; `data` holds the raw text. */
export const isParseError = (e: unknown): e is CometaError => isCometaError(e, 'ERR_PARSE');
/** True for both JSONP failures: `ERR_JSONP_SCRIPT` (script error) and `ERR_JSONP_NOT_CALLED`. */
export const isJSONPError = (e: unknown): e is CometaError =>
  isCometaError(e, 'ERR_JSONP_SCRIPT') || isCometaError(e, 'ERR_JSONP_NOT_CALLED');

/** @internal An `ERR_BAD_OPTION` error naming the option and what it must be. */
export const badOption = (name: string, want: string): CometaError =>
  new CometaError('ERR_BAD_OPTION', `option "${name}" must be ${want}`);

/** @internal The error for a feature that needs a browser API the runtime lacks. */
export const browserOnly = (what: string): CometaError =>
  new CometaError('ERR_BROWSER_ONLY', `${what} needs a browser`);

/**
 * @internal The `ERR_HTTP_STATUS` error of an answer. Its message names the server's error code
 * and message when the body is an error body (`{"error":{"code","message"}}`), as the hub sends.
 */
export function httpError(
  method: string,
  url: string,
  r: CometaErrorDetails & { status: number; statusText: string },
): CometaError {
  const e = (r.data as { error?: { code?: string; message?: string } } | null)?.error;
  return new CometaError(
    'ERR_HTTP_STATUS',
    `HTTP ${r.status} ${r.statusText}${e?.code ? ` ${e.code}: ${e.message}` : ''} (${method} ${url})`,
    r,
  );
}

/** @internal A transport failure of the request described by `c` (its method and URL). */
export const failure = (
  code: 'ERR_TIMEOUT' | 'ERR_ABORTED' | 'ERR_NETWORK',
  c: { method: string; url: string; timeout: number },
  cause?: unknown,
): CometaError =>
  new CometaError(
    code,
    `${code === 'ERR_TIMEOUT' ? `timeout of ${c.timeout}ms exceeded` : code === 'ERR_ABORTED' ? 'aborted' : 'network error'} (${c.method} ${c.url})`,
    { cause },
  );
