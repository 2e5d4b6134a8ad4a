import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubCore } from '../core.js';
import { HubError } from '../http/respond.js';
import { attachPoll } from './longpoll.js';
import type { SubscribeRequest, Transport } from './transport.js';

const CALLBACK_RE = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*$/;

/**
 * Validates a JSONP callback name: a JavaScript identifier path, at most 128 characters. Anything
 * else is refused with a JSON error and is never echoed into script.
 */
export function checkCallback(name: string | null): string {
  if (name === null || name.length > 128 || !CALLBACK_RE.test(name)) {
    throw new HubError(
      'ERR_BAD_CALLBACK',
      'callback must match ^[A-Za-z_$][\\w$]*(\\.[A-Za-z_$][\\w$]*)*$ (at most 128 characters)',
    );
  }
  return name;
}

/**
 * JSONP long-poll (`?callback=NAME`): the long-poll answer wrapped as `/**∕NAME({…});` with a
 * JavaScript content type and `nosniff`. Works across origins with no CORS at all (a script tag),
 * at the price of trusting the hub with script execution on the page.
 */
export const jsonp: Transport = {
  name: 'jsonp',
  matches(_req: IncomingMessage, query: URLSearchParams): boolean {
    return query.has('callback');
  },
  handle(hub: HubCore, _req: IncomingMessage, res: ServerResponse, s: SubscribeRequest): void {
    const callback = checkCallback(s.query.get('callback'));
    attachPoll(hub, res, s, { transport: 'jsonp', immediate: s.query.get('mode') === 'poll', callback });
  },
};
