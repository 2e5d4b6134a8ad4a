import type { ChannelRule, HubOptions } from '../hub/options.js';
import type { ServeConfig } from './config.js';

/** How a setting's text (from a flag or an environment variable) is read. */
type Kind = 'int' | 'bool' | 'string' | 'list';

/**
 * One `cometa serve` setting: where it lives in the config file (a dotted path into the hub
 * options, or `port`/`host`), its environment variable and its flag. The one source for parsing
 * and for the reference table in docs/configuration.md (a test checks the two agree).
 */
export interface Setting {
  /** Path in the config file / hub options, e.g. `limits.maxBodyBytes`. */
  path: string;
  env: string;
  flag: string;
  kind: Kind;
  /** Default, as documented. */
  def: string;
  /** A `bool` that also takes `auto` (from the environment or the config file; no flag needed: it is the default). */
  auto?: true;
  doc: string;
}

export const SETTINGS: readonly Setting[] = [
  {
    path: 'port',
    env: 'COMETA_PORT',
    flag: 'port',
    kind: 'int',
    def: '8080',
    doc: 'TCP port to listen on (0: any free port)',
  },
  {
    path: 'host',
    env: 'COMETA_HOST',
    flag: 'host',
    kind: 'string',
    def: '127.0.0.1',
    doc: 'Address to listen on (0.0.0.0 for every interface)',
  },
  {
    path: 'store',
    env: 'COMETA_STORE',
    flag: 'store',
    kind: 'string',
    def: 'sqlite:DATA_DIR/cometa.db',
    doc: 'History store: memory, sqlite:PATH or redis://HOST:PORT/DB',
  },
  {
    path: 'dataDir',
    env: 'COMETA_DATA_DIR',
    flag: 'data-dir',
    kind: 'string',
    def: './.cometa',
    doc: 'Directory of the default SQLite store',
  },
  {
    path: 'prefix',
    env: 'COMETA_PREFIX',
    flag: 'prefix',
    kind: 'string',
    def: "''",
    doc: 'Mount prefix, e.g. /cometa',
  },
  {
    path: 'retention.maxMessages',
    env: 'COMETA_RETENTION_MAX_MESSAGES',
    flag: 'retention-max-messages',
    kind: 'int',
    def: '1000',
    doc: 'Messages kept per channel',
  },
  {
    path: 'retention.maxAgeMs',
    env: 'COMETA_RETENTION_MAX_AGE_MS',
    flag: 'retention-max-age-ms',
    kind: 'int',
    def: '3600000',
    doc: 'Age after which messages are dropped, ms',
  },
  {
    path: 'heartbeatMs',
    env: 'COMETA_HEARTBEAT_MS',
    flag: 'heartbeat-ms',
    kind: 'int',
    def: '15000',
    doc: 'Heartbeat interval on streams, ms',
  },
  {
    path: 'sseRetryMs',
    env: 'COMETA_SSE_RETRY_MS',
    flag: 'sse-retry-ms',
    kind: 'int',
    def: '2000',
    doc: 'SSE `retry:` sent to EventSource, ms',
  },
  {
    path: 'longPollTimeout',
    env: 'COMETA_LONGPOLL_TIMEOUT',
    flag: 'longpoll-timeout',
    kind: 'int',
    def: '25',
    doc: 'Default long-poll hold, seconds',
  },
  {
    path: 'longPollMaxTimeout',
    env: 'COMETA_LONGPOLL_MAX_TIMEOUT',
    flag: 'longpoll-max-timeout',
    kind: 'int',
    def: '60',
    doc: 'Largest `?timeout=` accepted, seconds',
  },
  {
    path: 'streamMaxBytes',
    env: 'COMETA_STREAM_MAX_BYTES',
    flag: 'stream-max-bytes',
    kind: 'int',
    def: '262144',
    doc: 'Bytes after which an XHR stream is recycled',
  },
  {
    path: 'tcpNoDelay',
    env: 'COMETA_TCP_NODELAY',
    flag: 'tcp-no-delay',
    kind: 'bool',
    auto: true,
    def: 'auto',
    doc: 'TCP_NODELAY on streams and WebSockets: true, false (Nagle merges bursts: less CPU, more latency) or auto (Nagle only while the event loop is busy)',
  },
  {
    path: 'fastPublish',
    env: 'COMETA_FAST_PUBLISH',
    flag: 'fast-publish',
    kind: 'bool',
    def: 'true',
    doc: 'answer plain POST /pub/{channel} without the Node HTTP parser (the publish fast lane)',
  },
  {
    path: 'fastPoll',
    env: 'COMETA_FAST_POLL',
    flag: 'fast-poll',
    kind: 'bool',
    def: 'true',
    doc: 'answer and hold plain long-polls without the Node HTTP parser (the fast lane)',
  },
  {
    path: 'compactWhenIdleMs',
    env: 'COMETA_COMPACT_WHEN_IDLE_MS',
    flag: 'compact-when-idle-ms',
    kind: 'int',
    def: '3000',
    doc: 'ms of quiet after which one full GC gives memory back (0: never)',
  },
  {
    path: 'trustProxy',
    env: 'COMETA_TRUST_PROXY',
    flag: 'trust-proxy',
    kind: 'list',
    def: 'none',
    doc: 'Reverse proxies whose X-Forwarded-For names the client: addresses, CIDRs, loopback, linklocal, uniquelocal',
  },
  {
    path: 'cors.origins',
    env: 'COMETA_CORS_ORIGINS',
    flag: 'cors-origins',
    kind: 'list',
    def: '*',
    doc: 'Allowed origins, comma-separated (exact, https://*.example.com patterns, or *)',
  },
  {
    path: 'cors.credentials',
    env: 'COMETA_CORS_CREDENTIALS',
    flag: 'cors-credentials',
    kind: 'bool',
    def: 'false',
    doc: 'Allow cookies from the listed origins (needs explicit origins)',
  },
  {
    path: 'cors.maxAge',
    env: 'COMETA_CORS_MAX_AGE',
    flag: 'cors-max-age',
    kind: 'int',
    def: '86400',
    doc: 'Seconds a preflight answer may be cached',
  },
  {
    path: 'limits.maxBodyBytes',
    env: 'COMETA_MAX_BODY_BYTES',
    flag: 'max-body-bytes',
    kind: 'int',
    def: '1048576',
    doc: 'Largest publish body, bytes',
  },
  {
    path: 'limits.maxJsonDepth',
    env: 'COMETA_MAX_JSON_DEPTH',
    flag: 'max-json-depth',
    kind: 'int',
    def: '64',
    doc: 'Deepest nesting of arrays/objects in a published JSON value (deeper: 400)',
  },
  {
    path: 'limits.maxFields',
    env: 'COMETA_MAX_FIELDS',
    flag: 'max-fields',
    kind: 'int',
    def: '1000',
    doc: 'Most fields/parts of a form publish body (more: 413)',
  },
  {
    path: 'limits.maxChannelsPerSubscription',
    env: 'COMETA_MAX_CHANNELS',
    flag: 'max-channels',
    kind: 'int',
    def: '64',
    doc: 'Most channels on one subscription',
  },
  {
    path: 'limits.maxBufferedBytes',
    env: 'COMETA_MAX_BUFFERED_BYTES',
    flag: 'max-buffered-bytes',
    kind: 'int',
    def: '1048576',
    doc: 'Unsent bytes after which a slow consumer is dropped',
  },
  {
    path: 'limits.maxBatch',
    env: 'COMETA_MAX_BATCH',
    flag: 'max-batch',
    kind: 'int',
    def: '1000',
    doc: 'Most messages per poll answer / replay page',
  },
  {
    path: 'limits.maxBatchBytes',
    env: 'COMETA_MAX_BATCH_BYTES',
    flag: 'max-batch-bytes',
    kind: 'int',
    def: '1048576',
    doc: 'Most message bytes per poll answer / replay page (one larger message still goes alone)',
  },
  {
    path: 'limits.maxHeaderBytes',
    env: 'COMETA_MAX_HEADER_BYTES',
    flag: 'max-header-bytes',
    kind: 'int',
    def: '16384',
    doc: 'Largest request head, bytes (more: 431)',
  },
  {
    path: 'limits.maxConnections',
    env: 'COMETA_MAX_CONNECTIONS',
    flag: 'max-connections',
    kind: 'int',
    def: '10000',
    doc: 'Most open connections (mounted: open requests) (0: no limit)',
  },
  {
    path: 'limits.maxConnectionsPerIp',
    env: 'COMETA_MAX_CONNECTIONS_PER_IP',
    flag: 'max-connections-per-ip',
    kind: 'int',
    def: '256',
    doc: 'Most open connections per IP, per client behind trustProxy (0: no limit)',
  },
  {
    path: 'limits.publishRatePerIp',
    env: 'COMETA_PUBLISH_RATE_PER_IP',
    flag: 'publish-rate-per-ip',
    kind: 'int',
    def: '100',
    doc: 'Publishes per second per IP (0: no limit)',
  },
  {
    path: 'limits.publishRatePerToken',
    env: 'COMETA_PUBLISH_RATE_PER_TOKEN',
    flag: 'publish-rate-per-token',
    kind: 'int',
    def: '50',
    doc: 'Publishes per second per token subject (0: no limit)',
  },
  {
    path: 'limits.headersTimeoutMs',
    env: 'COMETA_HEADERS_TIMEOUT_MS',
    flag: 'headers-timeout-ms',
    kind: 'int',
    def: '30000',
    doc: 'Time to send the request head, ms (slowloris defence)',
  },
  {
    path: 'limits.requestTimeoutMs',
    env: 'COMETA_REQUEST_TIMEOUT_MS',
    flag: 'request-timeout-ms',
    kind: 'int',
    def: '60000',
    doc: 'Time to send a whole request, head and body, ms (a held publish body: 408)',
  },
  {
    path: 'limits.keepAliveTimeoutMs',
    env: 'COMETA_KEEPALIVE_TIMEOUT_MS',
    flag: 'keepalive-timeout-ms',
    kind: 'int',
    def: '65000',
    doc: 'Idle keep-alive connection lifetime, ms',
  },
  {
    path: 'auth.key',
    env: 'COMETA_AUTH_KEY',
    flag: 'auth-key',
    kind: 'string',
    def: 'none (no auth)',
    doc: 'JWT verification key: an HS256 secret or a PEM public key (docs/security.md)',
  },
  {
    path: 'auth.jwksFile',
    env: 'COMETA_AUTH_JWKS_FILE',
    flag: 'auth-jwks-file',
    kind: 'string',
    def: 'none',
    doc: 'JWKS file of JWT verification keys',
  },
  {
    path: 'auth.issuer',
    env: 'COMETA_AUTH_ISSUER',
    flag: 'auth-issuer',
    kind: 'string',
    def: 'no check',
    doc: 'Required JWT iss',
  },
  {
    path: 'auth.audience',
    env: 'COMETA_AUTH_AUDIENCE',
    flag: 'auth-audience',
    kind: 'string',
    def: 'no check',
    doc: 'Required JWT aud',
  },
  {
    path: 'auth.requireExp',
    env: 'COMETA_AUTH_REQUIRE_EXP',
    flag: 'auth-require-exp',
    kind: 'bool',
    def: 'true',
    doc: 'Refuse JWTs without exp (--no-auth-require-exp accepts them)',
  },
  {
    path: 'websocket.maxPayload',
    env: 'COMETA_WS_MAX_PAYLOAD',
    flag: 'ws-max-payload',
    kind: 'int',
    def: '65536',
    doc: 'Largest WebSocket frame a client may send, bytes',
  },
  {
    path: 'websocket.perMessageDeflate',
    env: 'COMETA_WS_DEFLATE',
    flag: 'ws-deflate',
    kind: 'bool',
    def: 'false',
    doc: 'Negotiate permessage-deflate',
  },
  {
    path: 'websocket.publish',
    env: 'COMETA_WS_PUBLISH',
    flag: 'ws-publish',
    kind: 'bool',
    def: 'true',
    doc: 'Accept publish frames on WebSockets',
  },
  {
    path: 'limits.maxPatternsPerSubscription',
    env: 'COMETA_MAX_PATTERNS',
    flag: 'max-patterns',
    kind: 'int',
    def: '8',
    doc: 'Most wildcard patterns on one subscription (0: no wildcard subscriptions)',
  },
  {
    path: 'limits.maxPatternChannels',
    env: 'COMETA_MAX_PATTERN_CHANNELS',
    flag: 'max-pattern-channels',
    kind: 'int',
    def: '1000',
    doc: 'Most channels a wildcard resume replays (more: a gap on the pattern)',
  },
  {
    path: 'idempotency.windowMs',
    env: 'COMETA_IDEMPOTENCY_WINDOW_MS',
    flag: 'idempotency-window-ms',
    kind: 'int',
    def: '300000',
    doc: 'How long an Idempotency-Key is remembered after its publish, ms',
  },
  {
    path: 'idempotency.maxKeysPerChannel',
    env: 'COMETA_IDEMPOTENCY_MAX_KEYS',
    flag: 'idempotency-max-keys',
    kind: 'int',
    def: '1000',
    doc: 'Idempotency keys remembered per channel (oldest forgotten first)',
  },
  {
    path: 'presence.maxMembers',
    env: 'COMETA_PRESENCE_MAX_MEMBERS',
    flag: 'presence-max-members',
    kind: 'int',
    def: '1000',
    doc: 'Members per presence channel (more subscribe without being members)',
  },
  {
    path: 'presence.coalesceMs',
    env: 'COMETA_PRESENCE_COALESCE_MS',
    flag: 'presence-coalesce-ms',
    kind: 'int',
    def: '5000',
    doc: 'A member back within this many ms neither leaves nor joins',
  },
  {
    path: 'presence.ttlMs',
    env: 'COMETA_PRESENCE_TTL_MS',
    flag: 'presence-ttl-ms',
    kind: 'int',
    def: '15000',
    doc: 'Redis: members of a hub that died leave within this many ms',
  },
  {
    path: 'presence.maxBytes',
    env: 'COMETA_PRESENCE_MAX_BYTES',
    flag: 'presence-max-bytes',
    kind: 'int',
    def: '65536',
    doc: 'Largest presence snapshot answer, bytes',
  },
  {
    path: 'presence.logEvents',
    env: 'COMETA_PRESENCE_LOG_EVENTS',
    flag: 'presence-log-events',
    kind: 'int',
    def: '256',
    doc: 'Joins and leaves kept per watched channel for polls to catch up with (psince)',
  },
  {
    path: 'presence.logBytes',
    env: 'COMETA_PRESENCE_LOG_BYTES',
    flag: 'presence-log-bytes',
    kind: 'int',
    def: '65536',
    doc: 'Envelope characters of those kept joins and leaves per channel',
  },
  {
    path: 'presence.logMs',
    env: 'COMETA_PRESENCE_LOG_MS',
    flag: 'presence-log-ms',
    kind: 'int',
    def: '30000',
    doc: 'How long a kept join or leave stays, and a channel log outlives its last watcher',
  },
  {
    path: 'metrics',
    env: 'COMETA_METRICS',
    flag: 'metrics',
    kind: 'bool',
    def: 'true',
    doc: 'Serve Prometheus metrics at /metrics',
  },
  {
    path: 'dashboard',
    env: 'COMETA_DASHBOARD',
    flag: 'dashboard',
    kind: 'bool',
    def: 'false',
    doc: 'Publish stats on cometa.stats and serve /dashboard (on with --demo)',
  },
  {
    path: 'statsIntervalMs',
    env: 'COMETA_STATS_INTERVAL_MS',
    flag: 'stats-interval-ms',
    kind: 'int',
    def: '1000',
    doc: 'Interval of the cometa.stats messages, ms',
  },
  {
    path: 'streams.prefix',
    env: 'COMETA_STREAMS_PREFIX',
    flag: 'streams-prefix',
    kind: 'string',
    def: '/v1/stream',
    doc: 'Path prefix of Durable Streams URLs (docs/durable-streams.md; `streams: false` in the config file turns them off)',
  },
  {
    path: 'streams.store',
    env: 'COMETA_STREAMS_STORE',
    flag: 'streams-store',
    kind: 'string',
    def: 'the hub store',
    doc: 'Where Durable Streams are kept: memory, sqlite:PATH or redis://… (default: beside the hub store)',
  },
  {
    path: 'streams.longPollTimeout',
    env: 'COMETA_STREAMS_LONGPOLL_TIMEOUT',
    flag: 'streams-longpoll-timeout',
    kind: 'int',
    def: '25',
    doc: 'Seconds a Durable Streams long-poll read waits before 204',
  },
  {
    path: 'streams.maxStreamBytes',
    env: 'COMETA_STREAMS_MAX_STREAM_BYTES',
    flag: 'streams-max-stream-bytes',
    kind: 'int',
    def: '268435456',
    doc: 'Bytes one Durable Stream may hold (more: 413)',
  },
  {
    path: 'streams.maxTotalBytes',
    env: 'COMETA_STREAMS_MAX_TOTAL_BYTES',
    flag: 'streams-max-total-bytes',
    kind: 'int',
    def: '256 MiB (memory, Redis), 1 GiB (SQLite)',
    doc: 'Bytes all Durable Streams hold together, overheads included (more: 507)',
  },
  {
    path: 'streams.maxStreams',
    env: 'COMETA_STREAMS_MAX_STREAMS',
    flag: 'streams-max-streams',
    kind: 'int',
    def: '100000',
    doc: 'Durable Streams held at once (more: 507)',
  },
  {
    path: 'streams.channels',
    env: 'COMETA_STREAMS_CHANNELS',
    flag: 'streams-channels',
    kind: 'bool',
    def: 'true',
    doc: 'Publish JSON-mode streams on the cometa channels ds.{path}',
  },
  {
    path: 'streams.subscriptions',
    env: 'COMETA_STREAMS_SUBSCRIPTIONS',
    flag: 'streams-subscriptions',
    kind: 'bool',
    def: 'false',
    doc: 'Serve the Durable Streams subscription APIs under {prefix}/__ds/ (webhooks, pull-wake)',
  },
  {
    path: 'streams.gzipMinBytes',
    env: 'COMETA_STREAMS_GZIP_MIN_BYTES',
    flag: 'streams-gzip-min-bytes',
    kind: 'int',
    def: '1024',
    doc: 'Gzip Durable Streams catch-up answers of this many bytes or more (0: never)',
  },
  {
    path: 'demo',
    env: 'COMETA_DEMO',
    flag: 'demo',
    kind: 'bool',
    def: 'false',
    doc: 'Serve the demo at / (and the simulated feed unless feed is off)',
  },
  {
    path: 'demoFeed',
    env: 'COMETA_FEED',
    flag: 'feed',
    kind: 'bool',
    def: 'true with demo',
    doc: 'Run the SIMULATED scores/quotes feed (--no-feed to turn off)',
  },
  {
    path: 'logLevel',
    env: 'COMETA_LOG_LEVEL',
    flag: 'log-level',
    kind: 'string',
    def: 'info',
    doc: 'pino level: trace, debug, info, warn, error, fatal, silent',
  },
];

/** Settings that are not hub options (handled by the CLI itself). */
const CLI_ONLY = new Set(['port', 'host', 'logLevel']);
const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Thrown for a bad flag, environment variable or config field; the message names it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function parse(s: Setting, raw: string, source: string): unknown {
  switch (s.kind) {
    case 'int': {
      const n = Number(raw.trim());
      if (raw.trim() === '' || !Number.isInteger(n))
        throw new ConfigError(`${source} must be an integer, got ${JSON.stringify(raw)}`);
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      if (s.auto && v === 'auto') return 'auto';
      throw new ConfigError(
        `${source} must be true${s.auto ? ', false or auto' : ' or false'}, got ${JSON.stringify(raw)}`,
      );
    }
    case 'list':
      return raw
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    default:
      return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let obj = target;
  for (const k of keys.slice(0, -1)) {
    const next = obj[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) obj[k] = {};
    else obj[k] = { ...(next as Record<string, unknown>) };
    obj = obj[k] as Record<string, unknown>;
  }
  obj[keys[keys.length - 1]!] = value;
}

/** The `parseArgs` options of every setting (booleans also get a `--no-X` negation). */
export function settingFlags(): Record<string, { type: 'string' | 'boolean' }> {
  const out: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const s of SETTINGS) {
    out[s.flag] = { type: s.kind === 'bool' ? 'boolean' : 'string' };
    if (s.kind === 'bool') out[`no-${s.flag}`] = { type: 'boolean' };
  }
  return out;
}

/** What `cometa serve` runs with after merging every source. */
export interface Resolved {
  port: number;
  host: string;
  logLevel: string;
  options: HubOptions;
}

/** The demo page's channel rules: image pings for its click tracker, presence for its chat. */
export const DEMO_CHANNEL_RULES: readonly ChannelRule[] = [
  { pattern: 'clicks.*', ping: true },
  { pattern: 'demo.chat', presence: 'anonymous' },
];

/**
 * Merges defaults < config file < environment < flags into hub options plus port/host.
 * Errors name the flag, the variable or the config field.
 *
 * @example
 * ```ts
 * resolveServeConfig({ port: 9000 }, { COMETA_PORT: '9001' }, { port: '9002' }).port; // 9002
 * ```
 */
export function resolveServeConfig(
  file: ServeConfig,
  env: NodeJS.ProcessEnv,
  flags: Record<string, string | boolean | undefined>,
): Resolved {
  const merged: Record<string, unknown> = { ...file };
  for (const s of SETTINGS) {
    const raw = env[s.env];
    if (raw !== undefined && raw !== '') setPath(merged, s.path, parse(s, raw, `${s.env}`));
  }
  for (const s of SETTINGS) {
    const v = flags[s.flag];
    const negated = flags[`no-${s.flag}`];
    if (s.kind === 'bool') {
      if (v === true) setPath(merged, s.path, true);
      if (negated === true) setPath(merged, s.path, false);
    } else if (typeof v === 'string') setPath(merged, s.path, parse(s, v, `--${s.flag}`));
  }
  const {
    port = 8080,
    host = '127.0.0.1',
    logLevel = 'info',
    ...options
  } = merged as ServeConfig & {
    logLevel?: unknown;
  };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`port must be an integer from 0 to 65535, got ${JSON.stringify(port)}`);
  }
  if (typeof host !== 'string' || host === '')
    throw new ConfigError('host must be an address like 127.0.0.1');
  if (typeof logLevel !== 'string' || !LOG_LEVELS.has(logLevel)) {
    throw new ConfigError(
      `logLevel must be one of ${[...LOG_LEVELS].join(', ')}, got ${JSON.stringify(logLevel)}`,
    );
  }
  if (options.demo === true) {
    // The demo's feed runs unless turned off; its click tracker needs image pings on clicks.*.
    if (options.demoFeed === undefined) options.demoFeed = true;
    options.channels = [...DEMO_CHANNEL_RULES, ...(options.channels ?? [])];
  }
  for (const key of CLI_ONLY) delete (options as Record<string, unknown>)[key];
  return { port, host, logLevel, options };
}
