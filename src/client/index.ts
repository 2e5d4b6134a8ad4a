// cometa/client for every runtime (the `default` export condition, and cometa/client/universal):
// the browser build's API, with requests on fetch where there is no XMLHttpRequest (Node, Deno,
// Bun, service workers, SSR). Browsers get browser.ts through the `browser` condition, without
// the fetch code.

export { create, del, get, patch, post, put, request } from './api-any.js';
export * from './browser.js';
export { readStream } from './durable-any.js';
export {
  longpollTransport,
  sseTransport,
  streamTransport,
  subscribe,
  websocketTransport,
} from './subscribe/index.js';
