// request(): one call through hooks, the transport (XHR in browsers, fetch elsewhere),
// validateStatus and retries; the method shorthands; create() for instances with defaults.
import { prepareBody } from './body.js';
import { browserOnly, failure, isCometaError } from './errors.js';
import { merge, toConfig, validate } from './options.js';
import { statusError } from './response.js';
import { retryDelay, sleep } from './retry.js';
import type { CometaResponse, RequestConfig, RequestOptions } from './types.js';
import { xhrResponse, xhrSend } from './xhr.js';

// Where there is no XMLHttpRequest (Node, service workers), fetch does the work. A dynamic import:
// bundlers split it into a chunk that browsers, which all have XHR, never download.
async function fetchSend(c: RequestConfig, body: unknown): Promise<CometaResponse> {
  if (c.onUploadProgress || c.responseType === 'xml')
    throw browserOnly('onUploadProgress or responseType "xml"');
  const r = await (await import('./fetch.js')).fetchSend(c, body);
  if ('code' in r) throw failure(r.code, c, r.cause);
  return xhrResponse(r, c);
}

async function run(url: string, options: RequestOptions): Promise<CometaResponse> {
  let c: RequestConfig = toConfig(url, options);
  for (const hook of c.hooks.beforeRequest) c = (await hook(c)) || c;
  const body = /^(GET|HEAD)$/.test(c.method) ? null : prepareBody(c.body, c.headers);
  const send = typeof XMLHttpRequest === 'function' ? xhrSend : fetchSend;
  for (let n = 1; ; n++) {
    try {
      if (c.signal.aborted) throw failure('ERR_ABORTED', c, c.signal.reason);
      let res = await send(c, body);
      for (const hook of c.hooks.afterResponse) res = (await hook(res, c)) || res;
      if (c.validateStatus(res.status)) return res;
      throw statusError(res, c);
    } catch (e) {
      const wait = retryDelay(e, c, n);
      if (wait < 0) {
        if (!isCometaError(e)) throw e;
        let error = e;
        for (const hook of c.hooks.beforeError) error = (await hook(error, c)) || error;
        throw error;
      }
      await sleep(wait, c);
    }
  }
}

/**
 * Sends an HTTP request and resolves with the response, or rejects with a {@link CometaError}.
 * @example
 * const { data } = await request('/api/items', { query: { page: 2 }, timeout: 5000 });
 * @example
 * await request('/api/items', { method: 'POST', body: { name: 'pen' } }); // sent as JSON
 */
export async function request<T = unknown>(
  url: string,
  options: RequestOptions = {},
): Promise<CometaResponse<T>> {
  // async: a bad option rejects the promise like any other failure, it does not throw.
  return run(url, merge({}, validate(options))) as Promise<CometaResponse<T>>;
}

/** The request functions of an instance (and of the module itself). */
export interface Instance {
  request<T = unknown>(url: string, options?: RequestOptions): Promise<CometaResponse<T>>;
  get<T = unknown>(url: string, options?: RequestOptions): Promise<CometaResponse<T>>;
  post<T = unknown>(url: string, body?: unknown, options?: RequestOptions): Promise<CometaResponse<T>>;
  put<T = unknown>(url: string, body?: unknown, options?: RequestOptions): Promise<CometaResponse<T>>;
  patch<T = unknown>(url: string, body?: unknown, options?: RequestOptions): Promise<CometaResponse<T>>;
  del<T = unknown>(url: string, options?: RequestOptions): Promise<CometaResponse<T>>;
  /** A new instance whose defaults are these, extended by `defaults`. */
  create(defaults?: RequestOptions): Instance;
}

// Shorthands of a request function: with a body (POST, PUT, PATCH) or without (GET, DELETE).
type Send = (url: string, options?: RequestOptions) => Promise<CometaResponse>;
const withBody = (req: Send, method: string) => (url: string, body?: unknown, options?: RequestOptions) =>
  req(url, { ...options, method, body });
const without = (req: Send, method: string) => (url: string, options?: RequestOptions) =>
  req(url, { ...options, method });

/** `request(url, { ...options, method: 'GET' })`. @example const { data } = await get('/api/me'); */
export const get: Instance['get'] = /* @__PURE__ */ without(request, 'GET') as Instance['get'];
/** `request(url, { ...options, method: 'DELETE' })`. @example await del('/api/items/7'); */
export const del: Instance['del'] = /* @__PURE__ */ without(request, 'DELETE') as Instance['del'];
/** POST `body` (see the `body` option). @example await post('/api/items', { name: 'pen' }); */
export const post: Instance['post'] = /* @__PURE__ */ withBody(request, 'POST') as Instance['post'];
/** PUT `body`. @example await put('/api/items/7', { name: 'pen' }); */
export const put: Instance['put'] = /* @__PURE__ */ withBody(request, 'PUT') as Instance['put'];
/** PATCH `body`. @example await patch('/api/items/7', { price: 2 }); */
export const patch: Instance['patch'] = /* @__PURE__ */ withBody(request, 'PATCH') as Instance['patch'];

/**
 * An instance with defaults: a base URL, headers, hooks, any option. Per-request options win;
 * headers merge by name (a `null` value removes a default), hooks run defaults first.
 * @example
 * const api = create({ baseURL: '/api', headers: { Authorization: `Bearer ${token}` }, retry: 2 });
 * const { data } = await api.get('/me');
 */
export function create(defaults: RequestOptions = {}): Instance {
  const base = merge({}, validate(defaults));
  const req: Send = async (url, options = {}) => run(url, merge(base, validate(options)));
  return {
    request: req,
    get: without(req, 'GET'),
    del: without(req, 'DELETE'),
    post: withBody(req, 'POST'),
    put: withBody(req, 'PUT'),
    patch: withBody(req, 'PATCH'),
    create: (more = {}) => create(merge(base, validate(more))),
  } as Instance;
}
