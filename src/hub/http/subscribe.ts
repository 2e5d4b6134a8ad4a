import type { IncomingMessage } from 'node:http';
import { parseChannelList } from '../../protocol/channel.js';
import { parseCursor } from '../../protocol/cursor.js';
import type { ResolvedOptions } from '../options.js';
import type { Start } from '../transports/transport.js';
import { HubError } from './respond.js';

/** What every subscribe request has, whatever the transport. */
export interface SubscribeParams {
  channels: string[];
  start: Start;
  timeoutMs: number;
}

/**
 * Parses the transport-independent part of `GET /sub/{channels}`: the channel list, where to
 * start (`Last-Event-ID` header, else `?since=`, else `?last=N`, else new messages only) and the
 * long-poll `?timeout=`. Throws HubError (400) for anything malformed.
 */
export function parseSubscribe(
  options: ResolvedOptions,
  req: Pick<IncomingMessage, 'headers'>,
  rawChannels: string,
  query: URLSearchParams,
): SubscribeParams {
  const channels = parseChannelList(
    rawChannels,
    options.limits.maxChannelsPerSubscription,
    options.limits.maxPatternsPerSubscription,
  );
  if (!Array.isArray(channels)) {
    throw new HubError(
      channels.error === 'too-many' ? 'ERR_TOO_MANY_CHANNELS' : 'ERR_BAD_CHANNEL',
      channels.detail,
    );
  }
  // EventSource's automatic reconnect repeats the original URL; its Last-Event-ID is newer than ?since.
  const header = req.headers['last-event-id'];
  const rawCursor = typeof header === 'string' && header !== '' ? header : query.get('since');
  let start: Start;
  if (rawCursor !== null && rawCursor !== '') {
    const cursor = parseCursor(rawCursor);
    if (!cursor)
      throw new HubError('ERR_BAD_CURSOR', 'the cursor must be a value the hub gave out (EPOCH-SEQ)');
    start = { kind: 'since', cursor, raw: rawCursor };
  } else if (query.has('last')) {
    start = { kind: 'last', n: intParam(query, 'last', 0, options.limits.maxBatch) };
  } else start = { kind: 'new' };
  const timeout = query.has('timeout')
    ? intParam(query, 'timeout', 1, options.longPollMaxTimeout)
    : options.longPollTimeout;
  return { channels, start, timeoutMs: timeout * 1000 };
}

/** An integer query parameter within bounds, or a 400 naming it. */
export function intParam(query: URLSearchParams, name: string, min: number, max: number): number {
  const raw = query.get(name) ?? '';
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new HubError('ERR_BAD_PARAM', `?${name}= must be an integer from ${min} to ${max}`);
  }
  return n;
}
