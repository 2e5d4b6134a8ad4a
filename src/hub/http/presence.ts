import type { IncomingMessage, ServerResponse } from 'node:http';
import { isChannelName } from '../../protocol/channel.js';
import type { HubCore } from '../core.js';
import { type PresenceMember, requestPresence, type SubscriberPresence } from '../presence.js';
import { ambientIdentity, authenticate, type Credentials } from './auth.js';
import { clientIp, takeAnonymousJoin } from './limits.js';
import { HubError, sendJson } from './respond.js';

/**
 * The presence of a subscribe request (any transport): `?presence=1` for join/leave envelopes, and
 * the member identity. On a public channel the router checked no token; a presence channel still
 * needs one to know who subscribes, so it is read here (an invalid one makes the subscriber
 * anonymous rather than refusing a subscription that needs no token).
 *
 * Joining is a change others see, made in the subscriber's name. A browser attaches the session
 * cookie to a subscription any page opens (an EventSource, a `<script>`), so an identity resting
 * on an ambient credential counts only when `sameSite` says the request comes from a page allowed
 * to act with the session; otherwise the subscription goes on without that identity.
 */
export async function subscriberPresence(
  core: HubCore,
  req: IncomingMessage,
  query: URLSearchParams,
  channels: readonly string[],
  credentials: Credentials | undefined,
  sameSite: boolean,
): Promise<SubscriberPresence | undefined> {
  let creds = credentials;
  if (creds?.claims == null && core.options.auth !== null && channels.some((c) => core.presence.enabled(c))) {
    creds = await authenticate(core, req, query).catch(() => creds);
  }
  if (creds !== undefined && !sameSite && ambientIdentity(core, creds)) creds = undefined;
  const p = requestPresence(query, creds);
  const m = p?.member;
  // Only a join costs a token: a poller's next request within presence.coalesceMs is none.
  if (
    m?.anonymous === true &&
    channels.some((c) => core.presence.enabled(c, m) && !core.presence.has(c, m.member)) &&
    !takeAnonymousJoin(core, clientIp(core, req))
  )
    return { member: undefined, events: p!.events };
  return p;
}

/**
 * Whether a subscribe request shows it comes from a page allowed to act with the session: an
 * allowed `Origin` (`originMayAct`); without one, a browser's `Sec-Fetch-Site` of `same-origin` or
 * `none`, or neither header (a same-origin request of a browser that sends neither). A JSONP
 * `<script>` proves nothing: any page can include one and browsers send it without an Origin.
 */
export function sameSiteRequest(
  req: IncomingMessage,
  jsonp: boolean,
  originMayAct: (origin: string) => boolean,
): boolean {
  if (jsonp) return false;
  const origin = req.headers.origin;
  if (origin !== undefined) return origin !== 'null' && originMayAct(origin);
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
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
