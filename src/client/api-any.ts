// The request functions of the universal build (the `default` export condition: Node, Deno, Bun,
// service workers, SSR): XMLHttpRequest where it exists, fetch elsewhere. Same API as api-xhr.ts.
import { browserOnly, failure } from './errors.js';
import { fetchSend } from './fetch.js';
import { createVia, type Instance, requestVia, type Send, withBody, without } from './request.js';
import { xhrResponse, xhrSend } from './xhr.js';

const send: Send = async (c, body) => {
  if (typeof XMLHttpRequest === 'function') return xhrSend(c, body);
  if (c.onUploadProgress || c.responseType === 'xml')
    throw browserOnly('onUploadProgress or responseType "xml"');
  const r = await fetchSend(c, body);
  if ('code' in r) throw failure(r.code, c, r.cause);
  return xhrResponse(r, c);
};

/**
 * See the browser build (api-xhr.ts): the same, with fetch where there is no XMLHttpRequest. The
 * seven bindings are written out in each build rather than made by one shared function: each is a
 * pure top-level binding a bundler drops when unused, where an object made by a shared factory is
 * kept whole (a page importing only `get` would carry `create` and the others too).
 */
export const request: Instance['request'] = /* @__PURE__ */ requestVia(send);
export const get: Instance['get'] = /* @__PURE__ */ without(request, 'GET') as Instance['get'];
export const del: Instance['del'] = /* @__PURE__ */ without(request, 'DELETE') as Instance['del'];
export const post: Instance['post'] = /* @__PURE__ */ withBody(request, 'POST') as Instance['post'];
export const put: Instance['put'] = /* @__PURE__ */ withBody(request, 'PUT') as Instance['put'];
export const patch: Instance['patch'] = /* @__PURE__ */ withBody(request, 'PATCH') as Instance['patch'];
export const create: Instance['create'] = /* @__PURE__ */ createVia(send);
