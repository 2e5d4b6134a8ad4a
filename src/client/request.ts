// request() over a given transport: one call through hooks, the transport, validateStatus and
// retries; the method shorthands; create() for instances with defaults. api-xhr.ts builds them on
// XMLHttpRequest alone (the browser build), api-any.ts on XMLHttpRequest or fetch.
import { prepareBody } from './body.js';
import { failure, isCometaError } from './errors.js';
import { merge, toConfig, validate } from './options.js';
import { statusError } from './response.js';
import { addKey, retryDelay, sleep } from './retry.js';
import type { CometaResponse, RequestConfig, RequestOptions } from './types.js';

/** One attempt of a resolved request: XMLHttpRequest in browsers, fetch elsewhere (api-any.ts). */
export type Send = (c: RequestConfig, body: unknown) => Promise<CometaResponse>;

async function run(send: Send, url: string | URL, options: RequestOptions): Promise<CometaResponse> {
  let c: RequestConfig = toConfig(`${url}`, options);
  addKey(c);
  for (const hook of c.hooks.beforeRequest) c = (await hook(c)) || c;
  const body = /^(GET|HEAD)$/.test(c.method) ? null : prepareBody(c.body, c.headers);
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

/** A `request()` over `send`. */
export const requestVia =
  (send: Send): Instance['request'] =>
  // async: a bad option rejects the promise like any other failure, it does not throw.
  async (url, options = {}) =>
    run(send, url, merge({}, validate(options))) as never;

/** The request functions of an instance (and of the module itself). */
export interface Instance {
  request<T = unknown>(url: string | URL, options?: RequestOptions): Promise<CometaResponse<T>>;
  get<T = unknown>(url: string | URL, options?: RequestOptions): Promise<CometaResponse<T>>;
  post<T = unknown>(url: string | URL, body?: unknown, options?: RequestOptions): Promise<CometaResponse<T>>;
  put<T = unknown>(url: string | URL, body?: unknown, options?: RequestOptions): Promise<CometaResponse<T>>;
  patch<T = unknown>(url: string | URL, body?: unknown, options?: RequestOptions): Promise<CometaResponse<T>>;
  del<T = unknown>(url: string | URL, options?: RequestOptions): Promise<CometaResponse<T>>;
  /** A new instance whose defaults are these, extended by `defaults`. */
  create(defaults?: RequestOptions): Instance;
}

// Shorthands of a request function: with a body (POST, PUT, PATCH) or without (GET, DELETE).
type Req = (url: string | URL, options?: RequestOptions) => Promise<CometaResponse>;
/** The shorthand of `method` for requests with a body. */
export const withBody =
  (req: Req, method: string) => (url: string | URL, body?: unknown, options?: RequestOptions) =>
    req(url, { ...options, method, body });
/** The shorthand of `method` for requests without a body. */
export const without = (req: Req, method: string) => (url: string | URL, options?: RequestOptions) =>
  req(url, { ...options, method });

/** A `create()` over `send`. */
export function createVia(send: Send): Instance['create'] {
  const create = (defaults: RequestOptions = {}): Instance => {
    const base = merge({}, validate(defaults));
    const req: Req = async (url, options = {}) => run(send, url, merge(base, validate(options)));
    return {
      request: req,
      get: without(req, 'GET'),
      del: without(req, 'DELETE'),
      post: withBody(req, 'POST'),
      put: withBody(req, 'PUT'),
      patch: withBody(req, 'PATCH'),
      create: (more = {}) => create(merge(base, validate(more))),
    } as Instance;
  };
  return create;
}
