import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubCore } from '../core.js';
import { attachPoll } from './longpoll.js';
import type { SubscribeRequest, Transport } from './transport.js';

/**
 * Interval polling (`?mode=poll`): answered at once with whatever is after the cursor (maybe
 * nothing). The cheapest transport for the hub per request, the costliest in latency.
 */
export const poll: Transport = {
  name: 'poll',
  matches(_req: IncomingMessage, query: URLSearchParams): boolean {
    return query.get('mode') === 'poll';
  },
  handle(hub: HubCore, _req: IncomingMessage, res: ServerResponse, s: SubscribeRequest): void {
    attachPoll(hub, res, s, { transport: 'poll', immediate: true });
  },
};
