// cometa/client as browsers get it (the `browser` export condition): everything a named export
// (tree-shakable), requests on XMLHttpRequest alone. The IIFE bundle dist/cometa.min.js exposes the
// same names on the global `cometa`. index.ts is the same API with fetch where there is no XHR.
export type { ClientErrorCode, Envelope, GapData } from '../protocol/index.js';
export { create, del, get, patch, post, put, request } from './api-xhr.js';
export type { ReadStream, StreamRead } from './durable.js';
export { readStream } from './durable.js';
export type { CometaErrorDetails, HTTPError } from './errors.js';
export {
  CometaError,
  isAbortError,
  isCometaError,
  isHTTPError,
  isJSONPError,
  isNetworkError,
  isParseError,
  isTimeoutError,
} from './errors.js';
export type { FormEntry } from './form.js';
export { formData, formEntries, serialize } from './form.js';
export type { JSONPOptions } from './jsonp.js';
export { jsonp } from './jsonp.js';
export { beacon, ping } from './ping.js';
export { addURLParam, buildQuery } from './query.js';
export type { Instance } from './request.js';
export { parseHeaders } from './response.js';
export * from './subscribe/browser.js';
export type { SyncOptions } from './sync.js';
export { requestSync } from './sync.js';
export type {
  CometaResponse,
  HookResult,
  Hooks,
  Progress,
  Query,
  QueryValue,
  RequestConfig,
  RequestOptions,
  ResponseType,
  RetryOptions,
} from './types.js';
