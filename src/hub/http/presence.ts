import type { IncomingMessage, ServerResponse } from 'node:http';
import { isChannelName } from '../../protocol/channel.js';
import type { HubCore } from '../core.js';
import { type PresenceMember, requestPresence, type SubscriberPresence } from '../presence.js';
import { authenticate, type Credentials } from './auth.js';
import { HubError, sendJson } from './respond.js';

/**
 * The presence of a subscribe request (any transport): `?presence=1` for join/leave envelopes, and
 * the member identity. On a public channel the router checked no token; a presence channel still
 * needs one to know who subscribes, so it is read here (an invalid one makes the subscriber
 * anonymous rather than refusing a subscription that needs no token).
 */
export async function subscriberPresence(
  core: HubCore,
  req: IncomingMessage,
  query: URLSearchParams,
  channels: readonly string[],
  credentials: Credentials | undefined,
): Promise<SubscriberPresence | undefined> {
  let creds = credentials;
  if (creds?.claims == null && core.options.auth !== null && channels.some((c) => core.presence.enabled(c))) {
    creds = await authenticate(core, req, query).catch(() => creds);
  }
  return requestPresence(query, creds);
}

/** A snapshot: `{"channel","members":[{member,info?,anonymous?}],"count","truncated"}`, bounded in bytes. */
export async function presenceSnapshot(
  core: HubCore,
  channel: string,
): Promise<{ channel: string; members: PresenceMember[]; count: number; truncated: boolean }> {
  if (core.options.channelPolicy(channel).presence === false)
    throw new HubError(
      'ERR_NOT_FOUND',
      'presence is not enabled for this channel (options.channels: presence)',
    );
  const all = await core.presence.members(channel);
  const max = core.options.presence.maxBytes;
  const members: PresenceMember[] = [];
  let bytes = 64 + channel.length;
  for (const m of all) {
    bytes += JSON.stringify(m).length + 1;
    if (bytes > max) break;
    members.push(m);
  }
  return { channel, members, count: all.length, truncated: members.length < all.length };
}

/** `GET /presence/{channel}`: the members now (authorized like subscribing, by the router). */
export async function handlePresenceRoute(
  core: HubCore,
  res: ServerResponse,
  channel: string,
  cors: Record<string, string>,
): Promise<void> {
  if (!isChannelName(channel))
    throw new HubError(
      'ERR_BAD_CHANNEL',
      "channel names are segments of [A-Za-z0-9_~:-] joined by '.', at most 200 characters",
    );
  sendJson(res, 200, await presenceSnapshot(core, channel), cors);
}
