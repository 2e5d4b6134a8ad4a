import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { HubCore } from './core.js';
import { LeanHistogram } from './histogram.js';
import type { PresenceGapReason } from './presence-log.js';
import type { TransportName } from './transports/transport.js';

/** Every transport, so each `cometa_connections` series exists (at 0) from the first scrape. */
const TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'stream', 'longpoll', 'poll', 'jsonp'];
/** Every reason, so each `cometa_presence_gaps_total` series exists (at 0) from the first scrape. */
const PRESENCE_GAP_REASONS: readonly PresenceGapReason[] = ['behind', 'other_log'];

/**
 * The hub's Prometheus metrics, in a registry of its own (two hubs in one process never mix
 * series). Almost everything is read from `hub.core` at scrape time, so the delivery hot path
 * pays nothing for metrics; the only per-message cost is two histogram observations per
 * published message (not per subscriber): fan-out latency and size, in lean histograms.
 *
 * Served at `GET /metrics` (option `metrics`, on by default). See docs/operations.md.
 *
 * @example
 * ```ts
 * const hub = createHub();
 * const text = await hub.metrics!.registry.metrics(); // Prometheus text format
 * ```
 */
export class HubMetrics {
  readonly registry = new Registry();
  readonly contentType: string;

  constructor(core: HubCore, options: { defaultMetrics?: boolean } = {}) {
    const registry = this.registry;
    this.contentType = registry.contentType;
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'cometa_' });

    new Gauge({
      name: 'cometa_connections',
      help: 'Open subscriber connections (and held polls) by transport',
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        const now = core.connections();
        for (const t of TRANSPORTS) this.set({ transport: t }, now[t] ?? 0);
      },
    });
    new Gauge({
      name: 'cometa_channels',
      help: 'Channels with at least one subscriber on this hub',
      registers: [registry],
      collect() {
        this.set(core.channelCounts().size);
      },
    });
    // Counters mirror core.stats: each scrape adds what happened since the previous one.
    const mirror = (name: string, help: string, read: () => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          const v = read();
          if (v > seen) this.inc(v - seen);
          seen = v;
        },
      });
    };
    mirror(
      'cometa_messages_published_total',
      'Messages published through this hub',
      () => core.stats.published,
    );
    mirror(
      'cometa_messages_delivered_total',
      'Message deliveries to subscribers (one per message per subscriber)',
      () => core.stats.delivered,
    );
    mirror(
      'cometa_coalesced_deliveries_total',
      'Deliveries written together with other messages of the same event-loop turn (one write per subscriber)',
      () => core.stats.coalesced,
    );
    mirror(
      'cometa_slow_consumer_drops_total',
      'Connections dropped because the peer did not read fast enough (limits.maxBufferedBytes)',
      () => core.stats.slowConsumerDrops,
    );
    mirror(
      'cometa_gaps_total',
      'gap events sent to subscribers (history no longer reached their cursor)',
      () => core.stats.gaps,
    );
    mirror(
      'cometa_store_errors_total',
      'Store failures (backend unreachable, failed operations)',
      () => core.stats.storeErrors,
    );
    mirror(
      'cometa_slow_consumer_bytes_total',
      'Unsent bytes slow consumers had queued when they were dropped',
      () => core.stats.slowConsumerBytes,
    );
    mirror(
      'cometa_pings_refused_total',
      'Image pings and beacons refused by channel policy (answered as usual, nothing published)',
      () => core.stats.pingsRefused,
    );
    mirror(
      'cometa_rate_limited_total',
      'Publishes refused with 429 by limits.publishRatePerIp / publishRatePerToken',
      () => core.stats.rateLimited,
    );
    mirror(
      'cometa_publish_duplicates_total',
      'Publishes answered with the id of an earlier one (same Idempotency-Key): nothing stored',
      () => core.stats.duplicates,
    );
    mirror(
      'cometa_presence_refused_total',
      'Subscribers that are not presence members because their channel had presence.maxMembers',
      () => core.presence.refused,
    );
    // Read from the presence log's own counts at scrape time: nothing per join or leave.
    const plog = core.presenceLog;
    const gapsSeen: Record<PresenceGapReason, number> = { other_log: 0, behind: 0 };
    new Counter({
      name: 'cometa_presence_gaps_total',
      help: 'presence gaps sent to polls (their joins and leaves since psince unknown): psince older than what the channel log holds (behind), or of another hub process or a restart (other_log)',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        for (const reason of PRESENCE_GAP_REASONS) {
          const v = plog.gaps[reason];
          this.inc({ reason }, Math.max(0, v - gapsSeen[reason]));
          gapsSeen[reason] = v;
        }
      },
    });
    new Gauge({
      name: 'cometa_presence_log_channels',
      help: 'Presence channels whose joins and leaves are kept for polls (watched, or for presence.logMs after their last watcher)',
      registers: [registry],
      collect() {
        this.set(plog.size);
      },
    });
    new Gauge({
      name: 'cometa_presence_log_events',
      help: 'Joins and leaves kept for polls, all channels (at most presence.logEvents per channel)',
      registers: [registry],
      collect() {
        this.set(plog.events);
      },
    });
    new Gauge({
      name: 'cometa_presence_log_bytes',
      help: 'Envelope characters of those joins and leaves (at most presence.logBytes per channel)',
      registers: [registry],
      collect() {
        this.set(plog.chars);
      },
    });
    mirror(
      'cometa_connections_refused_total',
      'Requests refused with 503, and connections closed unanswered, by limits.maxConnections / maxConnectionsPerIp',
      () => core.stats.connectionsRefused,
    );
    mirror(
      'cometa_fast_publishes_total',
      'HTTP publishes answered by the publish fast lane (option fastPublish), failures included',
      () => core.stats.fastPublishes,
    );
    mirror(
      'cometa_fast_polls_total',
      'Long-polls and interval polls taken by the fast lane (option fastPoll), failures included',
      () => core.stats.fastPolls,
    );
    mirror(
      'cometa_idle_compactions_total',
      'Full garbage collections run after quiet to give memory back (option compactWhenIdleMs)',
      () => core.stats.idleCompactions,
    );
    mirror(
      'cometa_nagle_switches_total',
      "Times tcpNoDelay: 'auto' turned Nagle on (event loop busy) or off (load eased)",
      () => core.stats.nagleSwitches,
    );
    mirror(
      'cometa_streams_gzip_total',
      'Durable Streams catch-up answers gzipped (compressions run; cached pages are counted apart)',
      () => core.stats.streamsGzipped,
    );
    mirror(
      'cometa_streams_gzip_cached_total',
      'Durable Streams gzipped answers taken from the cache of compressed pages (streams.gzipCacheBytes)',
      () => core.stats.streamsGzipCached,
    );
    mirror(
      'cometa_streams_gzip_skipped_total',
      'Durable Streams answers sent uncompressed to a client accepting gzip: streams.gzipConcurrency compressions were running',
      () => core.stats.streamsGzipSkipped,
    );
    new Gauge({
      name: 'cometa_tcp_nodelay',
      help: "1 while streams and WebSockets get TCP_NODELAY (frames leave at once), 0 while Nagle merges them (tcpNoDelay false, or 'auto' under load)",
      registers: [registry],
      collect() {
        this.set(core.noDelay ? 1 : 0);
      },
    });
    const cache = () => core.store.cacheStats;
    mirror(
      'cometa_store_cache_hits_total',
      'Store reads answered from its cache (SQLite tail cache: resume reads of recently read channels)',
      () => cache()?.hits ?? 0,
    );
    mirror(
      'cometa_store_cache_misses_total',
      'Store reads its cache could not answer (the first read of a channel, or a cursor older than what the cache holds of it)',
      () => cache()?.misses ?? 0,
    );
    new Gauge({
      name: 'cometa_store_cache_bytes',
      help: 'Estimated memory held by the store cache (bounded by the SQLite cacheBytes option)',
      registers: [registry],
      collect() {
        this.set(cache()?.bytes ?? 0);
      },
    });
    mirror(
      'cometa_auth_expired_total',
      'Subscriptions ended because their token expired (close reason auth)',
      () => core.stats.authExpired,
    );
    new Gauge({
      name: 'cometa_up',
      help: '1 while the hub accepts requests, 0 once it is shutting down',
      registers: [registry],
      collect() {
        this.set(core.closing ? 0 : 1);
      },
    });

    // Observed once per published message: lean histograms (histogram.ts), not prom-client's.
    const latency = new LeanHistogram(
      registry,
      'cometa_publish_to_fanout_seconds',
      'Time from publish (message time) to fan-out on this hub; includes the backplane hop with Redis',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
    const fanoutSize = new LeanHistogram(
      registry,
      'cometa_fanout_subscribers',
      'Subscribers each published message was delivered to on this hub',
      [0, 1, 10, 100, 1000, 10_000, 100_000],
    );
    const previous = core.onFanout;
    core.onFanout = (m, subscribers) => {
      previous?.(m, subscribers);
      latency.observe(Math.max(0, Date.now() - m.time) / 1000);
      fanoutSize.observe(subscribers);
    };
  }

  /** The Prometheus text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
