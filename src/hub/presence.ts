import { isWildcard } from '../protocol/channel.js';
import { type Credentials, hookMember } from './http/auth.js';
import { HubError } from './http/respond.js';
import type { ResolvedOptions } from './options.js';

/**
 * Presence: who is subscribed to a channel, with `join` and `leave` envelopes for subscribers who
 * ask (docs/presence.md). Opted in per channel by an `options.channels` rule (`presence: true`, or
 * `'anonymous'` to count subscribers without a token too).
 *
 * A member is a user, not a connection: the token's `sub` (with its `info` claim), or on
 * `'anonymous'` channels the `?member=` a subscriber names. Its connections on this hub are
 * counted; it joins with the first and leaves once the last is gone and has not come back within
 * `presence.coalesceMs` (a page reload is neither a leave nor a join). Pending leaves are settled
 * by the hub's one sweep timer: no timer per member.
 *
 * Where members live is the backend's: in this process (memory and SQLite stores: presence is per
 * hub process), or in Redis (every hub sharing it sees every member; entries of a hub that died
 * expire with its heartbeat, stores/redis-presence.ts).
 */

/** One member as join/leave envelopes and snapshots carry it. */
export interface PresenceMember {
  /** The token's `sub`, or the `?member=` of an anonymous subscriber. */
  readonly member: string;
  /** The token's `info` claim (any JSON, at most 1 KiB serialized), when it has one. */
  readonly info?: unknown;
  /** True for a member identified only by what it said (`?member=`), without a token. */
  readonly anonymous?: true;
}

/** Where a hub's members are shared (one per hub). */
export interface PresenceBackend {
  /** The member's first connection on this hub: false when the channel is full. */
  join(channel: string, m: PresenceMember): Promise<boolean>;
  /** The member's last connection on this hub is gone (after the coalescing window). */
  leave(channel: string, member: string): Promise<void>;
  /** The channel's members, at most `max`. */
  members(channel: string, max: number): Promise<PresenceMember[]>;
  /** Called by the sweep: keep this hub's entries alive, expire those of hubs that died. */
  sweep(now: number): void;
  /** The hub closes: its members leave. */
  close(): Promise<void>;
}

/** What a subscriber's presence is: its identity (if a member) and whether it wants the events. */
export interface SubscriberPresence {
  readonly member: PresenceMember | undefined;
  /** Receives `join` / `leave` envelopes (`?presence=1`). */
  readonly events: boolean;
}

const MEMBER_RE = /^[\x21-\x7e]{1,128}$/;
const MAX_INFO_CHARS = 1024;

/**
 * The presence of a subscribe request: `?presence=1` asks for the events; the identity is the
 * token's `sub` (and `info`), else an anonymous `?member=`.
 */
export function requestPresence(
  query: URLSearchParams,
  credentials: Credentials | undefined,
): SubscriberPresence | undefined {
  const p = query.get('presence');
  if (p !== null && p !== '1' && p !== 'true')
    throw new HubError('ERR_BAD_PARAM', '?presence= must be 1 (join and leave events)');
  const named = query.get('member');
  if (named !== null && !MEMBER_RE.test(named))
    throw new HubError('ERR_BAD_PARAM', '?member= must be 1 to 128 visible ASCII characters');
  const member = memberOf(credentials, named);
  if (member === undefined && p === null) return undefined;
  return { member, events: p !== null };
}

/** A subscriber's identity: its token's subject (and info), else the name it gave. */
export function memberOf(
  credentials: Credentials | undefined,
  named: string | null,
): PresenceMember | undefined {
  const hooked = hookMember(credentials);
  if (hooked !== undefined) return withInfo(hooked.member, hooked.info);
  const claims = credentials?.claims;
  if (claims?.subject !== undefined)
    return withInfo(claims.subject, (claims.payload as Record<string, unknown>).info);
  if (named !== null) return { member: named, anonymous: true };
  return undefined;
}

/** A member with its info when the info is JSON of at most 1 KiB. */
function withInfo(member: string, info: unknown): PresenceMember {
  if (info === undefined) return { member };
  let text: string | undefined;
  try {
    text = JSON.stringify(info);
  } catch {
    text = undefined;
  }
  return text !== undefined && text.length <= MAX_INFO_CHARS ? { member, info } : { member };
}

interface Entry {
  readonly m: PresenceMember;
  /** Connections of the member on this hub. */
  conns: number;
  /** When a leave is due (no connection since); 0 while connected. */
  leaveAt: number;
  /** The backend took the join (false: the channel was full, or the join is in flight). */
  joined: boolean | Promise<boolean>;
}

/** The presence of one hub: its members' connections, coalesced leaves, and the backend. */
export class HubPresence {
  readonly #options: ResolvedOptions;
  readonly #backend: PresenceBackend;
  /** Members with a connection (or a leave pending) here, by channel. */
  readonly #local = new Map<string, Map<string, Entry>>();
  /** Channel and member of each pending leave. */
  readonly #leaving = new Map<Entry, string>();
  /** Members refused because their channel was full (metrics). */
  refused = 0;

  constructor(options: ResolvedOptions, backend: PresenceBackend) {
    this.#options = options;
    this.#backend = backend;
  }

  /** Whether `channel` keeps presence for a member like `m`. */
  enabled(channel: string, m?: PresenceMember): boolean {
    if (isWildcard(channel)) return false;
    const p = this.#options.channelPolicy(channel).presence;
    return p === 'anonymous' || (p === true && m?.anonymous !== true);
  }

  /** A member's connection subscribed to `channels`. */
  enter(channels: readonly string[], m: PresenceMember): void {
    for (const channel of channels) {
      if (!this.enabled(channel, m)) continue;
      let members = this.#local.get(channel);
      if (members === undefined) {
        members = new Map();
        this.#local.set(channel, members);
      }
      const e = members.get(m.member);
      if (e !== undefined) {
        e.conns++;
        if (e.leaveAt !== 0) {
          e.leaveAt = 0; // back within the window: no leave, no join
          this.#leaving.delete(e);
        }
        continue;
      }
      const entry: Entry = { m, conns: 1, leaveAt: 0, joined: false };
      members.set(m.member, entry);
      entry.joined = this.#backend.join(channel, m).then(
        (ok) => {
          entry.joined = ok;
          if (!ok) this.refused++;
          return ok;
        },
        () => (entry.joined = false),
      );
    }
  }

  /** A member's connection left `channels`: the leave waits `presence.coalesceMs` for a comeback. */
  exit(channels: readonly string[], m: PresenceMember, now: number): void {
    for (const channel of channels) {
      const e = this.#local.get(channel)?.get(m.member);
      if (e === undefined || e.conns === 0) continue;
      if (--e.conns === 0) {
        e.leaveAt = now + this.#options.presence.coalesceMs;
        this.#leaving.set(e, channel);
      }
    }
  }

  /** The sweep: settles the leaves that are due, then lets the backend keep its entries alive. */
  sweep(now: number): void {
    for (const [e, channel] of this.#leaving) {
      if (e.leaveAt > now) continue;
      this.#leaving.delete(e);
      this.#forget(channel, e);
    }
    this.#backend.sweep(now);
  }

  #forget(channel: string, e: Entry): void {
    const members = this.#local.get(channel);
    members?.delete(e.m.member);
    if (members?.size === 0) this.#local.delete(channel);
    const leave = () => this.#backend.leave(channel, e.m.member).catch(() => {});
    if (e.joined === true) void leave();
    else if (e.joined !== false)
      void e.joined.then((ok) => {
        if (ok) void leave();
      });
  }

  /** The members of a channel (a snapshot), at most `presence.maxMembers`. */
  members(channel: string): Promise<PresenceMember[]> {
    return this.#backend.members(channel, this.#options.presence.maxMembers);
  }

  /**
   * Whether `member` is a member of `channel` through this hub, connected or within its
   * coalescing window (a poller between two requests): its next connection is no join.
   */
  has(channel: string, member: string): boolean {
    return this.#local.get(channel)?.has(member) === true;
  }

  /** Members of `channel` connected to this hub. */
  localCount(channel: string): number {
    return this.#local.get(channel)?.size ?? 0;
  }

  /** The hub closes: every member here leaves now (no window). */
  async close(): Promise<void> {
    for (const [channel, members] of this.#local) for (const e of members.values()) this.#forget(channel, e);
    this.#leaving.clear();
    await this.#backend.close();
  }
}

/**
 * Presence kept in this process (memory and SQLite stores): join and leave envelopes are announced
 * to this hub's subscribers only.
 */
export class LocalPresence implements PresenceBackend {
  readonly #members = new Map<string, Map<string, PresenceMember>>();
  readonly #max: number;
  readonly #announce: (channel: string, event: 'join' | 'leave', m: PresenceMember) => void;

  constructor(max: number, announce: (channel: string, event: 'join' | 'leave', m: PresenceMember) => void) {
    this.#max = max;
    this.#announce = announce;
  }

  async join(channel: string, m: PresenceMember): Promise<boolean> {
    let members = this.#members.get(channel);
    if (members === undefined) {
      members = new Map();
      this.#members.set(channel, members);
    }
    if (members.size >= this.#max) return false;
    members.set(m.member, m);
    this.#announce(channel, 'join', m);
    return true;
  }

  async leave(channel: string, member: string): Promise<void> {
    const members = this.#members.get(channel);
    const m = members?.get(member);
    if (members === undefined || m === undefined) return;
    members.delete(member);
    if (members.size === 0) this.#members.delete(channel);
    this.#announce(channel, 'leave', m);
  }

  async members(channel: string, max: number): Promise<PresenceMember[]> {
    return [...(this.#members.get(channel)?.values() ?? [])].slice(0, max);
  }

  sweep(): void {}

  async close(): Promise<void> {}
}
