// subscribe() as browsers get it: the browser transports (EventSource, XMLHttpRequest, script
// tags, WebSocket, fetch), without the fetch streams and SSE parser Node needs (index.ts).
import { type Subscription, subscribeVia, type Transports } from './core.js';
import { jsonp } from './jsonp.js';
import { longpoll } from './longpoll.js';
import { sse } from './sse.js';
import { stream } from './stream.js';
import type { SubscribeOptions } from './types.js';
import { websocket } from './websocket.js';

export type { Subscription, SubscriptionEvents, Transports } from './core.js';
export type {
  Connect as SubscribeConnector,
  Message,
  SubscribeOptions,
  SubscribeTransport,
  SubscriptionState,
  SubscriptionStatus,
  WebSocketLike,
} from './types.js';

const CONNECT: Transports = { websocket, sse, stream, longpoll, jsonp };

/** The transports by themselves, for {@link subscribeWith}. */
export {
  jsonp as jsonpTransport,
  longpoll as longpollTransport,
  sse as sseTransport,
  stream as streamTransport,
  websocket as websocketTransport,
};

/**
 * {@link subscribe} over the transports given, and no others: a bundler leaves out the code of
 * the rest. The default `transports` option is the table's keys, in its order.
 * @example
 * import { sseTransport, longpollTransport, subscribeWith } from 'cometa/client';
 * const sub = subscribeWith({ sse: sseTransport, longpoll: longpollTransport }, '/hub', 'news', {
 *   onMessage: (e) => show(e.data),
 * });
 */
export const subscribeWith = <T = unknown>(
  transports: Transports,
  hubUrl: string | URL,
  channels: string | readonly string[],
  options: SubscribeOptions<T> = {},
): Subscription<T> => subscribeVia(transports, hubUrl, channels, options);

/**
 * Subscribes to channels on a cometa hub. Tries `transports` in order, falls back at once when one
 * cannot work while the hub answers, waits with exponential backoff and jitter when the hub does
 * not answer at all, resumes from the cursor every time (duplicates dropped by id), reports lost
 * history as `gap` events, and ends with status `failed` and an error when the hub refuses the
 * subscription for good (a 4xx such as `ERR_BAD_CURSOR`, `ERR_TOO_MANY_CHANNELS`, 401, 403).
 * `T` is the type of the messages' `data`.
 * @example
 * const sub = subscribe<Quote>('https://hub.example.com', ['quotes.eur', 'quotes.usd'], {
 *   since: localStorage.getItem('cursor'),
 *   onMessage: (e) => render(e.channel, e.data), // e.data: Quote
 *   onGap: (e) => reload(e.channel),
 *   onError: (e) => showError(e.message), // refused for good; status `failed`
 *   signal: controller.signal,
 * });
 * addEventListener('pagehide', () => sub.cursor && localStorage.setItem('cursor', sub.cursor));
 */
export const subscribe = <T = unknown>(
  hubUrl: string | URL,
  channels: string | readonly string[],
  options: SubscribeOptions<T> = {},
): Subscription<T> => subscribeVia(CONNECT, hubUrl, channels, options);
