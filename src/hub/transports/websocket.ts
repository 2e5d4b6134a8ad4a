import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HubCore } from '../core.js';
import type { SubscribeRequest, UpgradeTransport } from './transport.js';

/**
 * WebSocket subscriptions arrive as HTTP upgrades. Until the WebSocket transport lands, an upgrade
 * is answered `501 ERR_NOT_IMPLEMENTED` with a JSON body, so clients fall back to another transport.
 */
export const websocket: UpgradeTransport = {
  name: 'websocket',
  upgrade(_hub: HubCore, _req: IncomingMessage, socket: Duplex, _head: Buffer, _sub: SubscribeRequest): void {
    const body = JSON.stringify({
      error: {
        code: 'ERR_NOT_IMPLEMENTED',
        message: 'WebSocket is not available on this hub yet; use sse, stream or longpoll',
      },
    });
    socket.end(
      `HTTP/1.1 501 Not Implemented\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  },
};
