import { hostname } from 'node:os';
import type { HubCore } from './core.js';

/** The channel the hub publishes its own stats on when the dashboard is enabled. */
export const STATS_CHANNEL = 'cometa.stats';
/** The event name of those messages. */
export const STATS_EVENT = 'stats';

/** One channel's row in a stats snapshot. */
export interface ChannelStats {
  channel: string;
  /** Subscribers on this hub. */
  subscribers: number;
  /** Messages retained by the store. */
  stored: number;
  /** Messages published on it during the last interval, per second. */
  inPerSec: number;
}

/** What the hub publishes on `cometa.stats` every interval (the dashboard draws it). */
export interface StatsSnapshot {
  /**
   * Which hub process sent it (`host/pid/random`): several hubs sharing a store all publish on
   * `cometa.stats`, and the dashboard sums them.
   */
  hub: string;
  /** Milliseconds between two snapshots of this hub. */
  intervalMs: number;
  /** Snapshot time, ms since epoch. */
  time: number;
  uptimeSec: number;
  store: string;
  /** Open connections by transport. */
  connections: Record<string, number>;
  /** Messages published per second (the stats messages themselves excluded). */
  inPerSec: number;
  /** Deliveries to subscribers per second (the stats messages themselves excluded). */
  outPerSec: number;
  /** Slow-consumer drops during the interval, and since start. */
  drops: number;
  dropsTotal: number;
  /** gap events during the interval, and since start. */
  gaps: number;
  gapsTotal: number;
  /** Channels with subscribers or recent publishes (at most 30, busiest first). */
  channels: ChannelStats[];
  /** Process memory, bytes. */
  rss: number;
}

const MAX_CHANNELS = 30;
/** A channel with no subscribers stays listed this long after its last publish. */
const RECENT_MS = 60_000;

/**
 * Publishes the hub's own stats on {@link STATS_CHANNEL} every `intervalMs` through the hub itself,
 * so the dashboard is just another subscriber (any transport, resume and history included: a
 * dashboard opened late draws the last minutes from the channel's history).
 */
export class StatsPublisher {
  readonly #core: HubCore;
  readonly #publish: (channel: string, data: unknown, options: { event: string }) => Promise<string>;
  readonly #intervalMs: number;
  readonly #started = Date.now();
  readonly #id = `${hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 6)}`;
  #timer: NodeJS.Timeout | undefined;
  #last = { time: Date.now(), published: 0, delivered: 0, drops: 0, gaps: 0 };
  /** Own messages and their deliveries, subtracted from the rates. */
  #own = { published: 0, delivered: 0 };
  /** Publishes per channel during the current interval. */
  #counts = new Map<string, number>();
  /** Last publish time per channel, for channels without subscribers. */
  readonly #recent = new Map<string, number>();
  #busy = false;

  constructor(
    core: HubCore,
    publish: (channel: string, data: unknown, options: { event: string }) => Promise<string>,
    intervalMs = 1000,
  ) {
    this.#core = core;
    this.#publish = publish;
    this.#intervalMs = intervalMs;
    const previous = core.onFanout;
    core.onFanout = (m, subscribers) => {
      previous?.(m, subscribers);
      if (m.channel === STATS_CHANNEL) {
        this.#own.delivered += subscribers;
        return;
      }
      this.#counts.set(m.channel, (this.#counts.get(m.channel) ?? 0) + 1);
      this.#recent.set(m.channel, m.time);
    };
  }

  start(): void {
    const s = this.#core.stats;
    this.#last = {
      time: Date.now(),
      published: s.published,
      delivered: s.delivered,
      drops: s.slowConsumerDrops,
      gaps: s.gaps,
    };
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Builds the snapshot of the interval that just ended (and starts a new interval). */
  async snapshot(): Promise<StatsSnapshot> {
    const core = this.#core;
    const s = core.stats;
    const now = Date.now();
    const secs = Math.max(0.001, (now - this.#last.time) / 1000);
    const published = s.published - this.#own.published;
    const delivered = s.delivered - this.#own.delivered;
    const snap = {
      inPerSec: (published - this.#last.published) / secs,
      outPerSec: (delivered - this.#last.delivered) / secs,
      drops: s.slowConsumerDrops - this.#last.drops,
      gaps: s.gaps - this.#last.gaps,
    };
    this.#last = { time: now, published, delivered, drops: s.slowConsumerDrops, gaps: s.gaps };
    const counts = this.#counts;
    this.#counts = new Map();

    const subs = core.channelCounts();
    for (const [c, t] of this.#recent) if (now - t > RECENT_MS) this.#recent.delete(c);
    const names = new Set([...subs.keys(), ...this.#recent.keys()]);
    names.delete(STATS_CHANNEL);
    const rows = [...names]
      .map((channel) => ({
        channel,
        subscribers: subs.get(channel) ?? 0,
        inPerSec: (counts.get(channel) ?? 0) / secs,
      }))
      .sort(
        (a, b) =>
          b.subscribers - a.subscribers || b.inPerSec - a.inPerSec || a.channel.localeCompare(b.channel),
      )
      .slice(0, MAX_CHANNELS);
    const channels: ChannelStats[] = await Promise.all(
      rows.map(async (r) => {
        const info = await core.store.info(r.channel).catch(() => ({ stored: -1 }));
        return {
          channel: r.channel,
          subscribers: r.subscribers,
          stored: info.stored,
          inPerSec: round(r.inPerSec),
        };
      }),
    );
    return {
      hub: this.#id,
      intervalMs: this.#intervalMs,
      time: now,
      uptimeSec: Math.round((now - this.#started) / 1000),
      store: core.store.kind,
      connections: core.connections(),
      inPerSec: round(snap.inPerSec),
      outPerSec: round(snap.outPerSec),
      drops: snap.drops,
      dropsTotal: s.slowConsumerDrops,
      gaps: snap.gaps,
      gapsTotal: s.gaps,
      channels,
      rss: process.memoryUsage.rss(),
    };
  }

  async #tick(): Promise<void> {
    // A slow store must not pile snapshots up.
    if (this.#busy || this.#core.closing) return;
    this.#busy = true;
    try {
      const snap = await this.snapshot();
      if (this.#core.closing) return;
      this.#own.published++;
      await this.#publish(STATS_CHANNEL, snap, { event: STATS_EVENT });
    } catch (err) {
      this.#core.log?.warn({ err }, 'stats publish failed');
    } finally {
      this.#busy = false;
    }
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
