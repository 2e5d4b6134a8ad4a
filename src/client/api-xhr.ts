// The request functions of the browser build (the `browser` export condition): XMLHttpRequest
// only, so no fetch code reaches browser bundles. Where there is no XMLHttpRequest (a service
// worker bundled for browsers) they reject with ERR_BROWSER_ONLY; cometa/client/universal has fetch.
import { browserOnly } from './errors.js';
import { createVia, type Instance, requestVia, type Send, withBody, without } from './request.js';
import { xhrSend } from './xhr.js';

const send: Send = (c, body) =>
  typeof XMLHttpRequest === 'function'
    ? xhrSend(c, body)
    : Promise.reject(browserOnly('XMLHttpRequest (or cometa/client/universal)'));

/**
 * Sends an HTTP request and resolves with the response, or rejects with a {@link CometaError}.
 * @example
 * const { data } = await request<Item[]>('/api/items', { query: { page: 2 }, timeout: 5000 });
 * @example
 * await request('/api/items', { method: 'POST', body: { name: 'pen' } }); // sent as JSON
 */
export const request: Instance['request'] = /* @__PURE__ */ requestVia(send);
/** `request(url, { ...options, method: 'GET' })`. @example const { data } = await get<User>('/api/me'); */
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
export const create: Instance['create'] = /* @__PURE__ */ createVia(send);
