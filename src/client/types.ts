// Public types of the request API: its options, the resolved config hooks see, the response.
import type { CometaError } from './errors.js';

/**
 * How the body is decoded into `response.data`.
 * - `auto`: by the response's Content-Type (or `mimeType`): JSON types parsed, XML types as a
 *   Document (`responseXML`), anything else as text.
 * - `json` (empty body → `null`), `text`, `xml` (a Document; browser only), `blob`, `arraybuffer`.
 */
export type ResponseType = 'auto' | 'json' | 'text' | 'xml' | 'blob' | 'arraybuffer';

/** A progress event, as XHR's ProgressEvent reports it. */
export interface Progress {
  /** Bytes transferred so far. */
  loaded: number;
  /** Total bytes, when known (Content-Length); else 0. */
  total: number;
  /** True when `total` is known. */
  lengthComputable: boolean;
}

/** Query values: arrays become repeated keys, `null`/`undefined` are skipped, Dates ISO strings. */
export type QueryValue = string | number | boolean | Date | null | undefined;
/** An object of query parameters (or a URLSearchParams, or an already-encoded string). */
export type Query = Record<string, QueryValue | readonly QueryValue[]> | URLSearchParams | string;

/** Request headers; a `null`/`undefined` value removes a header set by `create()` defaults. */
export type HeadersOption = Record<string, string | null | undefined> | Headers;

/**
 * What a hook may return: a replacement, or nothing (`void`, so that a plain function that only
 * mutates its argument type-checks) to keep the value as is.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: hooks that return nothing are the common case
export type HookResult<T> = T | undefined | void | Promise<T | undefined | void>;

/** Hooks run in order; each may return a replacement (or nothing to keep the value as is). */
export interface Hooks {
  /** Before the first attempt; may change the config (url, headers, body...) or return a new one. */
  beforeRequest?: Array<(config: RequestConfig) => HookResult<RequestConfig>>;
  /** After each response, before `validateStatus`; may return a different response (say after a token refresh). */
  afterResponse?: Array<(response: CometaResponse, config: RequestConfig) => HookResult<CometaResponse>>;
  /** Before a CometaError is thrown (after retries); may return a different or enriched error. */
  beforeError?: Array<(error: CometaError, config: RequestConfig) => HookResult<CometaError>>;
}

/** When and how failed attempts are retried. */
export interface RetryOptions {
  /** How many retries after the first attempt. @default 2 when `retry` is an object, else the number given */
  limit?: number;
  /**
   * Methods that may be retried: the idempotent ones. A POST or PATCH listed here (with `limit` > 0)
   * is sent with an `Idempotency-Key` header, one per request, unless it has one.
   * @default ['GET','HEAD','PUT','DELETE','OPTIONS','TRACE']
   */
  methods?: readonly string[];
  /** Statuses that are retried (network errors and timeouts always are). @default [408,413,429,500,502,503,504] */
  statusCodes?: readonly number[];
  /** Base delay in ms, doubled each retry, with jitter (50–100 % of it), capped at `backoffLimit`. @default 300 */
  delay?: number;
  /** Longest backoff delay in ms. @default 30000 */
  backoffLimit?: number;
  /** A Retry-After (seconds or HTTP date) longer than this many ms ends the retries. @default 60000 */
  maxRetryAfter?: number;
}

/** Options of `request()` and of `create()` defaults. Every one is optional. */
export interface RequestOptions {
  /** HTTP method (upper-cased). @default 'GET' */
  method?: string | undefined;
  /** Prefix of relative URLs (`/users` → `${baseURL}/users`); absolute URLs ignore it. @default '' */
  baseURL?: string | undefined;
  /** Request headers, set with setRequestHeader between open() and send(). @default {} */
  headers?: HeadersOption | undefined;
  /** Query parameters appended to the URL with `?` or `&` as needed. @default undefined */
  query?: Query | undefined;
  /**
   * Request body: a string; a plain object or array (sent as JSON); URLSearchParams; FormData; a Blob,
   * ArrayBuffer or typed array; a Document; or an HTMLFormElement (urlencoded, or multipart when it has
   * a file input or `enctype="multipart/form-data"`). Content-Type is set only where the browser
   * does not set it itself. Ignored for GET and HEAD. @default undefined
   */
  body?: unknown;
  /** How the response body is decoded (see {@link ResponseType}). @default 'auto' */
  responseType?: ResponseType | undefined;
  /** Overrides the response MIME type (xhr.overrideMimeType), e.g. `'text/xml'` for XML served as text/plain. @default undefined */
  mimeType?: string | undefined;
  /** Milliseconds before the attempt fails with `ERR_TIMEOUT`; 0 waits forever. Per attempt. @default 0 */
  timeout?: number | undefined;
  /** Aborts the request (and any retry wait) with `ERR_ABORTED`. @default undefined */
  signal?: AbortSignal | undefined;
  /** Send cookies and HTTP auth on cross-origin requests (the server must allow credentials). @default false */
  withCredentials?: boolean | undefined;
  /** Upload progress. Only when set are upload listeners attached: they force a CORS preflight. Browser only. @default undefined */
  onUploadProgress?: ((progress: Progress) => void) | undefined;
  /** Download progress. @default undefined */
  onDownloadProgress?: ((progress: Progress) => void) | undefined;
  /** Which statuses resolve; others reject with `ERR_HTTP_STATUS`. @default 2xx or 304 */
  validateStatus?: ((status: number) => boolean) | undefined;
  /** Hooks; `create()` defaults' hooks run before per-request ones. @default {} */
  hooks?: Hooks | undefined;
  /** Retries for idempotent methods, with exponential backoff and jitter, honouring Retry-After. A number is the limit. @default 0 */
  retry?: number | RetryOptions | undefined;
}

/** The resolved config of one request, as hooks see it (they may change it). */
export interface RequestConfig {
  /** The full URL: `baseURL` applied, query appended. */
  url: string;
  /** Upper-cased method. */
  method: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: unknown;
  responseType: ResponseType;
  mimeType: string | undefined;
  timeout: number;
  /** The request's signal (one that never aborts when none was given). */
  signal: AbortSignal;
  withCredentials: boolean;
  onUploadProgress: ((progress: Progress) => void) | undefined;
  onDownloadProgress: ((progress: Progress) => void) | undefined;
  validateStatus: (status: number) => boolean;
  hooks: Required<Hooks>;
  retry: Required<RetryOptions>;
}

/** A response. */
export interface CometaResponse<T = unknown> {
  status: number;
  statusText: string;
  /** Parsed from getAllResponseHeaders(): case-insensitive `get()`, repeated headers joined with ", ". */
  headers: Headers;
  /** The body decoded per `responseType`. */
  data: T;
  /** The final URL, after redirects. */
  url: string;
  /** The XMLHttpRequest (null when the request went through fetch, as in Node). */
  xhr: XMLHttpRequest | null;
}
