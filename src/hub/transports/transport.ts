import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Cursor } from '../../protocol/cursor.js';
import type { HubCore } from '../core.js';

/** Every subscribe transport, in the order the hub tries to match them. */
export type TransportName = 'websocket' | 'sse' | 'stream' | 'jsonp' | 'poll' | 'longpoll';

/** Where a subscription starts. */
export type Start =
  | { kind: 'since'; cursor: Cursor; raw: string }
  | { kind: 'last'; n: number }
  | { kind: 'new' };

/** A parsed, validated subscribe request, handed to the transport that matched. */
export interface SubscribeRequest {
  channels: string[];
  start: Start;
  query: URLSearchParams;
  /** Long-poll hold in ms (already bounded by the options). */
  timeoutMs: number;
  /** Response headers decided by the router (CORS) that every answer must carry. */
  headers: Record<string, string>;
  /**
   * The credentials checked by the router (http/auth.ts). Transports copy `expiresAt` onto their
   * Subscriber (the sweep ends it with reason `auth`); WebSocket keeps them for
   * `authorize(hub, credentials, action, channel)` on every subscribe/publish frame.
   */
  credentials?: import('../http/auth.js').Credentials;
  /** Presence of the subscriber (presence.ts): its member identity, whether it wants join/leave. */
  presence?: import('../presence.js').SubscriberPresence | undefined;
  /** A poll's `?psince=`: where it catches up with joins and leaves from (presence-log.ts). */
  presenceSince?: string | undefined;
  /** Answers the request with an error (for failures after the transport took it over). */
  fail(err: unknown): void;
}

/**
 * One way of pushing messages to a subscriber. Each transport lives in its own file and is looked
 * up by name (transports/index.ts); the router picks the first whose `matches` says yes.
 */
export interface Transport {
  readonly name: TransportName;
  /** True when this request asks for this transport (see docs/protocol.md, "Choosing a transport"). */
  matches(req: IncomingMessage, query: URLSearchParams): boolean;
  /** Takes over the request: validates transport-specific parameters and attaches a subscriber. */
  handle(hub: HubCore, req: IncomingMessage, res: ServerResponse, sub: SubscribeRequest): void;
}

/** A transport reached through an HTTP upgrade (WebSocket). */
export interface UpgradeTransport {
  readonly name: TransportName;
  upgrade(hub: HubCore, req: IncomingMessage, socket: Duplex, head: Buffer, sub: SubscribeRequest): void;
}
