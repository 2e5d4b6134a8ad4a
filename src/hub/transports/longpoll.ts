import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubCore } from '../core.js';
import { ResponsePollSubscriber } from './poll-base.js';
import type { SubscribeRequest, Transport } from './transport.js';

/**
 * Long-polling, the default transport: the request is held until at least one message exists
 * after the cursor, then answered with everything available (up to `limits.maxBatch`); after
 * `?timeout=` seconds it is answered with no messages. Either way the answer carries the cursor
 * for the next poll.
 */
export const longpoll: Transport = {
  name: 'longpoll',
  matches(_req: IncomingMessage, query: URLSearchParams): boolean {
    const t = query.get('transport');
    return t === null || t === 'longpoll';
  },
  handle(hub: HubCore, _req: IncomingMessage, res: ServerResponse, s: SubscribeRequest): void {
    attachPoll(hub, res, s, { transport: 'longpoll', immediate: false });
  },
};

/** Shared by long-poll, interval poll and JSONP: attach a poll subscriber and report failures. */
export function attachPoll(
  hub: HubCore,
  res: ServerResponse,
  s: SubscribeRequest,
  opts: { transport: 'longpoll' | 'poll' | 'jsonp'; immediate: boolean; callback?: string },
): void {
  const sub = new ResponsePollSubscriber(
    hub,
    s.channels,
    res,
    opts.transport,
    s.timeoutMs,
    s.headers,
    opts.immediate,
    opts.callback,
  );
  sub.expiresAt = s.credentials?.expiresAt ?? 0;
  sub.presence = s.presence;
  sub.presenceSince = s.presenceSince;
  hub.attach(sub, s.start).catch((err: unknown) => {
    sub.detach();
    s.fail(err);
  });
}
