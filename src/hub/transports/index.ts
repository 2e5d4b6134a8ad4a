import type { IncomingMessage } from 'node:http';
import { jsonp } from './jsonp.js';
import { longpoll } from './longpoll.js';
import { poll } from './poll.js';
import { sse } from './sse.js';
import { stream } from './stream.js';
import type { Transport, TransportName } from './transport.js';
import { websocket } from './websocket.js';

export type { SubscribeRequest, Transport, TransportName, UpgradeTransport } from './transport.js';
export { websocket };

/**
 * The HTTP transports in the order a subscribe request is matched against them (docs/protocol.md):
 * SSE, XHR streaming, JSONP, interval poll, then long-poll. WebSocket comes before all of them,
 * through the server's `upgrade` event.
 */
export const HTTP_TRANSPORTS: readonly Transport[] = [sse, stream, jsonp, poll, longpoll];

/** Transports by name. */
export const TRANSPORTS: ReadonlyMap<TransportName, Transport> = new Map(
  HTTP_TRANSPORTS.map((t) => [t.name, t]),
);

const NAMES = new Set(['websocket', 'sse', 'stream', 'longpoll', 'jsonp', 'poll']);

/** The transport a subscribe request asks for, or undefined when `?transport=` names none we have. */
export function pickTransport(req: IncomingMessage, query: URLSearchParams): Transport | undefined {
  const t = query.get('transport');
  if (t !== null && (!NAMES.has(t) || t === 'websocket')) return undefined;
  return HTTP_TRANSPORTS.find((tr) => tr.matches(req, query));
}
