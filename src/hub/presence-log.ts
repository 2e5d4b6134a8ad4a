import { randomBytes } from 'node:crypto';
import { Frame } from './frame.js';
import { HubError } from './http/respond.js';
import type { ResolvedOptions } from './options.js';

/**
 * The recent joins and leaves of watched presence channels, so that a poll catches up with those
 * that happened between two of its requests (docs/presence.md, "Polls").
 *
 * A stream hears every join and leave while it is open; a poll is attached only while its request
 * is held, so what happens between two requests would be lost. Each recorded event gets a
 * position (one counter for the whole hub) and the seq of the last message the hub had seen when
 * it happened (`after`): a poll answers with a presence cursor (`"pcursor":"LOG-POS"`) beside its
 * message cursor, sends it back as `?psince=`, and gets the events after that position merged
 * with its messages by `after`, each exactly once and in order. Message cursors are untouched.
 *
 * Bounded per channel by `presence.logEvents`, `presence.logBytes` and `presence.logMs`; a channel
 * is logged only while it has a watcher (a subscriber with `?presence=1`) and for `logMs` after
 * its last one went. A poll whose position is older than what a channel still holds, or from
 * another log (another hub process, a restart), gets a `gap` with reason `presence` for that
 * channel: re-read the snapshot. Trimming is the hub's one sweep timer's job: no timer here.
 */

/** One recorded join or leave. */
export interface LoggedPresence {
  /** Position in this hub's presence log (1, 2, …). */
  readonly pos: number;
  /** Seq of the last message the hub had seen when the event happened: it goes after that one. */
  readonly after: number;
  /** When it was recorded (ms since epoch), for `presence.logMs`. */
  readonly at: number;
  readonly frame: Frame;
}

interface ChannelLog {
  /** Recorded events, oldest first. */
  readonly entries: LoggedPresence[];
  /** Envelope characters of `entries`. */
  chars: number;
  /** Events at or below this position may be missing (trimmed, or before the log existed). */
  floor: number;
  /** Attached subscribers of the channel that want join/leave envelopes. */
  watchers: number;
  /** When the last watcher went (0 while watched). */
  idleSince: number;
}

/** What a poll catches up with: a gap per channel it cannot catch up on, the events, its new position. */
export interface PresenceReplay {
  readonly gaps: Frame[];
  /** In position order (and so in `after` order). */
  readonly events: LoggedPresence[];
  /** The position the poll's next request starts after. */
  readonly pos: number;
}

const CURSOR_RE = /^([0-9a-f]{8})-(\d{1,15})$/;

/**
 * Why a poll got a `presence` gap (metric `cometa_presence_gaps_total`): its `psince` is of
 * another log (another hub process, a restart) or one this log never gave (`other_log`: sticky
 * sessions), or older than what the channel's log holds (`behind`: trimmed by the log's bounds,
 * or the channel was not logged then).
 */
export type PresenceGapReason = 'other_log' | 'behind';

export class PresenceLog {
  /** Names this log: a position of another process's log means nothing here. */
  readonly id = randomBytes(4).toString('hex');
  readonly #limits: ResolvedOptions['presence'];
  readonly #channels = new Map<string, ChannelLog>();
  /** The last position given out. */
  #pos = 0;
  /** Events held over all channels, and their envelope characters (metrics). */
  #events = 0;
  #chars = 0;
  /** `presence` gaps given to polls, by reason (metrics). */
  readonly gaps: Record<PresenceGapReason, number> = { other_log: 0, behind: 0 };

  constructor(limits: ResolvedOptions['presence']) {
    this.#limits = limits;
  }

  /** The presence cursor of a position (`LOG-POS`). */
  format(pos: number): string {
    return `${this.id}-${pos}`;
  }

  /** A subscriber that wants join/leave envelopes attached on `channels` (presence channels only). */
  watch(channels: readonly string[]): void {
    for (const channel of channels) {
      let log = this.#channels.get(channel);
      if (log === undefined) {
        // Nothing before now was recorded for it.
        log = { entries: [], chars: 0, floor: this.#pos, watchers: 0, idleSince: 0 };
        this.#channels.set(channel, log);
      }
      log.watchers++;
      log.idleSince = 0;
    }
  }

  /** Such a subscriber left `channels`: the log stays `presence.logMs` for the next poll. */
  unwatch(channels: readonly string[], now: number): void {
    for (const channel of channels) {
      const log = this.#channels.get(channel);
      if (log === undefined || log.watchers === 0) continue;
      if (--log.watchers === 0) log.idleSince = now;
    }
  }

  /** Records a join or leave of a logged channel (sets `frame.pos`); others are not kept. */
  record(channel: string, frame: Frame, after: number, now: number): void {
    const log = this.#channels.get(channel);
    if (log === undefined) return;
    const pos = ++this.#pos;
    frame.pos = pos;
    log.entries.push({ pos, after, at: now, frame });
    log.chars += frame.json.length;
    this.#events++;
    this.#chars += frame.json.length;
    const l = this.#limits;
    while (log.entries.length > l.logEvents || log.chars > l.logBytes) this.#drop(log);
  }

  #drop(log: ChannelLog): void {
    const e = log.entries.shift()!;
    log.chars -= e.frame.json.length;
    this.#events--;
    this.#chars -= e.frame.json.length;
    log.floor = Math.max(log.floor, e.pos);
  }

  /**
   * What a poll on `channels` catches up with after the presence cursor `since` (undefined: none,
   * it starts now), up to the message seq `upTo` its answer reaches: events that go after a later
   * message wait for the poll that carries that message.
   */
  replay(channels: readonly string[], since: string | undefined, upTo: number): PresenceReplay {
    if (since === undefined) return { gaps: [], events: [], pos: this.#pos };
    const m = CURSOR_RE.exec(since);
    const from = m !== null && m[1] === this.id ? Number(m[2]) : -1;
    const gaps: Frame[] = [];
    const events: LoggedPresence[] = [];
    let withheld = Number.POSITIVE_INFINITY;
    for (const channel of channels) {
      const log = this.#channels.get(channel);
      if (log === undefined) continue;
      if (from < log.floor || from > this.#pos) {
        this.gaps[from === -1 || from > this.#pos ? 'other_log' : 'behind']++;
        gaps.push(Frame.hubEvent(channel, 'gap', { reason: 'presence', since, next: null }));
        continue;
      }
      for (const e of log.entries) {
        if (e.pos <= from) continue;
        if (e.after > upTo) {
          withheld = Math.min(withheld, e.pos);
          break;
        }
        events.push(e);
      }
    }
    events.sort((a, b) => a.pos - b.pos);
    const kept = withheld === Number.POSITIVE_INFINITY ? events : events.filter((e) => e.pos < withheld);
    return { gaps, events: kept, pos: withheld === Number.POSITIVE_INFINITY ? this.#pos : withheld - 1 };
  }

  /**
   * The store's history was lost: its seqs start over, so what was recorded cannot be ordered
   * with the new messages. Every poll behind now gets a `gap` with reason `presence`.
   */
  reset(): void {
    for (const log of this.#channels.values()) {
      log.entries.length = 0;
      log.chars = 0;
      log.floor = this.#pos;
    }
    this.#events = 0;
    this.#chars = 0;
  }

  /** From the hub's sweep: drops events older than `logMs`, and logs unwatched for that long. */
  sweep(now: number): void {
    const cutoff = now - this.#limits.logMs;
    for (const [channel, log] of this.#channels) {
      if (log.watchers === 0 && log.idleSince !== 0 && log.idleSince <= cutoff) {
        this.#events -= log.entries.length;
        this.#chars -= log.chars;
        this.#channels.delete(channel);
        continue;
      }
      while (log.entries.length > 0 && log.entries[0]!.at <= cutoff) this.#drop(log);
    }
  }

  /** Channels logged now (metrics, tests). */
  get size(): number {
    return this.#channels.size;
  }

  /** Events held now over all channels (metric `cometa_presence_log_events`). */
  get events(): number {
    return this.#events;
  }

  /** Envelope characters of those events (metric `cometa_presence_log_bytes`; bounded per channel by `logBytes`). */
  get chars(): number {
    return this.#chars;
  }
}

/** A subscribe request's `?psince=`: a presence cursor some hub gave out (`LOG-POS`), or a 400. */
export function presenceSinceParam(query: URLSearchParams): string | undefined {
  const raw = query.get('psince');
  if (raw === null || raw === '') return undefined;
  if (!CURSOR_RE.test(raw))
    throw new HubError('ERR_BAD_PARAM', '?psince= must be a pcursor a poll answer gave out (LOG-POS)');
  return raw;
}

/** A poll answer: its frames, and where the next poll goes on from (both cursors). */
export interface PresencePage {
  readonly frames: Frame[];
  /** The message cursor's seq: the answer's own when a message did not fit, else undefined (unchanged). */
  readonly seq: number | undefined;
  /** The presence position the next poll catches up after (`pcursor`). */
  readonly pos: number;
}

/**
 * Merges a poll's replayed page (hub events first, then messages in seq order) with the presence
 * events it catches up with, in the order they happened, within one page: `limit` messages and
 * events together, `maxBytes` of them (messages as the store counts them, `sizes` in order; events
 * as their envelope's characters), the first one always. Gaps (of messages and of presence) are a
 * few per channel and always go. What does not fit, from the first item that did not on, follows
 * from the answer's cursors: the next poll reads the messages after `seq` and the events after
 * `pos`, so each arrives once, in order, and that poll has something to answer at once.
 */
export function mergePresence(
  batch: readonly Frame[],
  sizes: readonly number[],
  replay: PresenceReplay,
  limit: number,
  maxBytes: number,
): PresencePage {
  const events = replay.events;
  if (replay.gaps.length === 0 && events.length === 0)
    return { frames: batch as Frame[], seq: undefined, pos: replay.pos };
  const out: Frame[] = [...replay.gaps];
  let items = 0;
  let bytes = 0;
  const fits = (b: number): boolean => items === 0 || (items < limit && bytes + b <= maxBytes);
  const take = (f: Frame, b: number): void => {
    out.push(f);
    items++;
    bytes += b;
  };
  let k = 0;
  let m = 0;
  /** Seq of the last message taken; 0: none yet. */
  let last = 0;
  // A cut before message `f` ends the cursor at the last message sent, or right before `f` when
  // none was: this page read every message of its channels in between, so none is skipped.
  const before = (f: Frame): number => (last !== 0 ? last : f.seq - 1);
  for (const f of batch) {
    if (f.seq === 0) {
      out.push(f);
      continue;
    }
    while (k < events.length && events[k]!.after < f.seq) {
      const e = events[k]!;
      if (!fits(e.frame.json.length)) return { frames: out, seq: before(f), pos: e.pos - 1 };
      take(e.frame, e.frame.json.length);
      k++;
    }
    const b = sizes[m++]!;
    if (!fits(b))
      return { frames: out, seq: before(f), pos: k < events.length ? events[k]!.pos - 1 : replay.pos };
    take(f, b);
    last = f.seq;
  }
  for (; k < events.length; k++) {
    const e = events[k]!;
    if (!fits(e.frame.json.length)) return { frames: out, seq: undefined, pos: e.pos - 1 };
    take(e.frame, e.frame.json.length);
  }
  return { frames: out, seq: undefined, pos: replay.pos };
}
