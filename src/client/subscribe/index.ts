// subscribe() for every runtime (the universal build): the browser transports, plus fetch streams
// where there is no EventSource or XMLHttpRequest (Node, Deno, Bun, service workers).
import { type Subscription, subscribeVia, type Transports } from './core.js';
import { jsonp } from './jsonp.js';
import { longpoll } from './longpoll.js';
import { sseFetch } from './sse-fetch.js';
import { streamFetch } from './stream-fetch.js';
import type { SubscribeOptions } from './types.js';
import { websocket } from './websocket.js';

export type * from './browser.js';

const CONNECT: Transports = { websocket, sse: sseFetch, stream: streamFetch, longpoll, jsonp };

export { subscribeWith } from './browser.js';
/** The transports by themselves, for `subscribeWith` (SSE and streaming with their fetch fallbacks). */
export {
  jsonp as jsonpTransport,
  longpoll as longpollTransport,
  sseFetch as sseTransport,
  streamFetch as streamTransport,
  websocket as websocketTransport,
};

/** See the browser build (browser.ts): the same, with fetch streams where the browser APIs are missing. */
export const subscribe = <T = unknown>(
  hubUrl: string | URL,
  channels: string | readonly string[],
  options: SubscribeOptions<T> = {},
): Subscription<T> => subscribeVia(CONNECT, hubUrl, channels, options);
