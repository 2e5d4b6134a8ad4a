import type { Logger } from 'pino';
import {
  compilePattern,
  isChannelPattern,
  isWildcard,
  patternCovers,
  patternsOverlap,
} from '../protocol/channel.js';
import { AuthConfigError, type AuthOptions, type ResolvedAuth, resolveAuth } from './auth/config.js';
import { compileTrustProxy, type TrustedProxy } from './http/trust-proxy.js';
import { defaultStoreSpec } from './stores/index.js';
import type { Retention } from './stores/store.js';

/** Retention for the channels matching `pattern` (`*` one segment, `**` any number). */
export interface RetentionRule extends Partial<Retention> {
  pattern: string;
}

/** Cross-origin settings (see docs/cross-origin.md). */
export interface CorsOptions {
  /**
   * Allowed origins: exact (`https://app.example.com`), patterns (`https://*.example.com`), or `*`.
   * @default ['*']
   */
  origins?: string[];
  /** Allow credentialed requests (cookies) from the listed origins; never combined with `*`. @default false */
  credentials?: boolean;
  /** Seconds a browser may cache a preflight answer. @default 86400 */
  maxAge?: number;
  /** Request headers allowed in preflights, besides the CORS-safelisted ones. @default ['Content-Type','Authorization','Last-Event-ID','X-Requested-With','X-CSRF-Token','X-Cometa','Idempotency-Key'] */
  allowHeaders?: string[];
  /** Extra response headers exposed to scripts, besides cometa's own. @default [] */
  exposeHeaders?: string[];
}

/** Resource limits; every one has a safe default. */
export interface LimitOptions {
  /** Largest publish body in bytes. @default 1048576 */
  maxBodyBytes?: number;
  /**
   * Deepest nesting of arrays and objects in a published JSON value (HTTP bodies of every type that
   * yields JSON, JSONP and ping `format=json`, WebSocket `publish` frames). Deeper is refused with
   * 400 `ERR_JSON_TOO_DEEP` before it is parsed, so nothing is stored that an answer could not
   * serialize. @default 64
   */
  maxJsonDepth?: number;
  /**
   * Most fields of an urlencoded body, or parts of a multipart one (also `?format=form`); more is
   * refused with 413 `ERR_TOO_MANY_FIELDS` before it is parsed, so a publish's CPU is bounded.
   * @default 1000
   */
  maxFields?: number;
  /** Most channels on one subscription. @default 64 */
  maxChannelsPerSubscription?: number;
  /**
   * Most wildcard patterns (`scores.*`, `quotes.**`) on one subscription, counted among its
   * channels too; 0 refuses wildcard subscriptions. @default 8
   */
  maxPatternsPerSubscription?: number;
  /**
   * Most channels a wildcard subscription's resume reads: when more channels matching its patterns
   * had messages after the cursor, the resume answers a `gap` on the pattern instead of a replay
   * (bounded work per resume). @default 1000
   */
  maxPatternChannels?: number;
  /** Bytes a connection may have queued unsent before it is dropped as a slow consumer. @default 1048576 */
  maxBufferedBytes?: number;
  /**
   * Most messages in one long-poll/poll/JSONP answer (with the joins and leaves a presence poll
   * catches up with), and per replay page on streams. @default 1000
   */
  maxBatch?: number;
  /**
   * Most bytes of messages (their JSON, as counted by the store) in one long-poll/poll/JSONP answer
   * and per replay page on streams and WebSocket; one message larger than this still goes alone.
   * A presence poll's answer counts the joins and leaves it catches up with too (their envelope's
   * characters). What is left follows from the answer's cursors (the next poll, the next page).
   * Replay pages of streams are also cut to `maxBufferedBytes`.
   * @default 1048576
   */
  maxBatchBytes?: number;
  /** Largest request head (request line + headers) in bytes, on the server `hub.listen()` creates; more is answered 431. @default 16384 */
  maxHeaderBytes?: number;
  /** Most connections (mounted in another server: requests and sockets) open at once, streams and held polls included; 0: no limit. @default 10000 */
  maxConnections?: number;
  /**
   * Most connections from one IP address (on `hub.listen()`'s server every connection counts, idle
   * ones too; mounted in another server, open requests and sockets count), and behind a proxy
   * listed in `trustProxy` most open requests per client address; 0: no limit.
   * @default 256
   */
  maxConnectionsPerIp?: number;
  /** Publishes per second from one IP address (bursts up to twice that); 0: no limit. @default 100 */
  publishRatePerIp?: number;
  /** Publishes per second per token subject (bursts up to twice that); 0: no limit. @default 50 */
  publishRatePerToken?: number;
  /** Milliseconds a client may take to send the request head (slowloris defence). @default 30000 */
  headersTimeoutMs?: number;
  /**
   * Milliseconds a client may take to send a whole request, head and body, counted from its first
   * byte; a publish whose body stops arriving is answered 408 and closed. At least
   * `headersTimeoutMs`. Streams and held polls are not cut: their requests are complete.
   * @default 60000 (or `headersTimeoutMs`, when that is longer)
   */
  requestTimeoutMs?: number;
  /** Milliseconds an idle keep-alive connection is kept (above a load balancer's idle timeout). @default 65000 */
  keepAliveTimeoutMs?: number;
}

/**
 * One rule of the per-channel policy list `options.channels`: what the channels matching `pattern`
 * allow beyond the defaults. The first rule whose pattern matches a channel applies (later rules are
 * not consulted); a channel no rule matches gets every default. See docs/cross-origin.md.
 * @example
 * channels: [
 *   { pattern: 'analytics.**', ping: true },
 *   { pattern: 'guestbook', publishGet: true },
 * ]
 */
export interface ChannelRule {
  /** Channel pattern: `*` matches one segment, `**` any number (`chat.**`, `scores.*`, `**`). */
  pattern: string;
  /**
   * Allow publishing with a GET (`GET /pub/{channel}?callback=NAME&data=…`, JSONP publish). A GET
   * that changes state can be triggered by any page (a script tag sends no Origin), so it is opt-in.
   * @default false
   */
  publishGet?: boolean;
  /**
   * Allow image-ping publishing (`GET /ping/{channel}?k=v`, or a beacon POST): the query is published
   * as an object. Refused pings still answer an image (or 204) but publish nothing.
   * @default false
   */
  ping?: boolean;
  /**
   * Who may subscribe (and read channel info) when `options.auth` is set: `'public'` anyone,
   * `'token'` a token granting the channel (or the `hub.authorize` hook's yes).
   * @default 'token'
   */
  subscribe?: 'public' | 'token';
  /** Who may publish (and delete history) when `options.auth` is set; see `subscribe`. @default 'token' */
  publish?: 'public' | 'token';
  /**
   * Keep presence (members, join and leave envelopes, docs/presence.md): `true` counts subscribers
   * with a token (its `sub`), `'anonymous'` also those without one who name themselves (`?member=`).
   * @default false
   */
  presence?: boolean | 'anonymous';
}

/** The policy that applies to one channel (the first matching rule with defaults filled in). */
export interface ChannelPolicy {
  /** The pattern of the rule that matched, or null when none did (all defaults). */
  readonly pattern: string | null;
  readonly publishGet: boolean;
  readonly ping: boolean;
  readonly subscribe: 'public' | 'token';
  readonly publish: 'public' | 'token';
  readonly presence: boolean | 'anonymous';
}

/** WebSocket transport settings (see docs/websocket.md). */
export interface WebSocketOptions {
  /** Largest frame a client may send, in bytes; a bigger one closes the socket with 1009. @default 65536 */
  maxPayload?: number;
  /** Negotiate permessage-deflate (costs memory and CPU per socket). @default false */
  perMessageDeflate?: boolean;
  /** Accept `publish` frames from clients. @default true */
  publish?: boolean;
}

/** Presence (docs/presence.md). */
export interface PresenceOptions {
  /** Members per channel; more subscribers are not members (counted in metrics). @default 1000 */
  maxMembers?: number;
  /**
   * A member whose last connection closed leaves only if it does not come back within this many
   * ms (a page reload is neither a leave nor a join). @default 5000
   */
  coalesceMs?: number;
  /**
   * Redis store: how long a hub's members outlive its last heartbeat (the hub renews it from its
   * sweep): the members of a hub that died leave within this, plus a second. @default 15000
   */
  ttlMs?: number;
  /** Largest presence snapshot answer, in bytes (more: `truncated: true`). @default 65536 */
  maxBytes?: number;
  /**
   * Joins and leaves kept per watched channel for polls to catch up with between two requests
   * (`?psince=`); a poll further behind gets a `gap` with reason `presence`. @default 256
   */
  logEvents?: number;
  /** Envelope characters those kept joins and leaves may hold per channel. @default 65536 */
  logBytes?: number;
  /**
   * How long a kept join or leave stays, and how long a channel's log outlives its last watcher
   * (a poller between two requests is no watcher): a poll that comes back later gets a `gap`
   * with reason `presence`. @default 30000
   */
  logMs?: number;
}

/** Idempotent publish (docs/protocol.md, "Idempotent publish"). */
export interface IdempotencyOptions {
  /** How long a key is remembered after its publish, in ms: a retry within it is not stored again. @default 300000 */
  windowMs?: number;
  /** Keys remembered per channel; beyond it the oldest is forgotten first. @default 1000 */
  maxKeysPerChannel?: number;
}

/** Options of `createHub()`. Validated once at construction, then frozen. */
export interface HubOptions {
  /**
   * Where history lives: `memory`, `sqlite:PATH` or `redis://HOST:PORT/DB`, or a Store instance.
   * Durable by default: a message the hub acknowledged survives a crash.
   * @default `sqlite:${dataDir}/cometa.db`
   */
  store?: string | import('./stores/store.js').Store;
  /** Directory for the default SQLite store. @default './.cometa' */
  dataDir?: string;
  /** Default retention for every channel. @default { maxMessages: 1000, maxAgeMs: 3_600_000 } */
  retention?: Partial<Retention>;
  /** Per-pattern retention; the first matching rule wins, missing fields come from `retention`. @default [] */
  retentionRules?: RetentionRule[];
  /** Milliseconds between heartbeats on streams (SSE comment, NDJSON empty line). @default 15000 */
  heartbeatMs?: number;
  /** The SSE `retry:` value sent once per stream, in ms. @default 2000 */
  sseRetryMs?: number;
  /** Default long-poll hold in seconds (`?timeout=` overrides, up to `longPollMaxTimeout`). @default 25 */
  longPollTimeout?: number;
  /** Largest `?timeout=` accepted, in seconds. @default 60 */
  longPollMaxTimeout?: number;
  /** An XHR stream is ended (and the client resumes invisibly) after this many bytes. @default 262144 */
  streamMaxBytes?: number;
  /**
   * TCP_NODELAY on stream and WebSocket sockets. `true`: every frame leaves at once. `false`: the
   * kernel's Nagle algorithm holds a small frame while the previous one is unacknowledged, merging
   * bursts into fewer packets (less CPU under load) at the cost of up to one round trip of extra
   * latency per burst; nginx+nchan streams behave that way. `'auto'`: `true` while the hub has CPU
   * to spare, `false` while its event loop is busy (utilization of 70% or more over a second, back
   * under 35%), switched for every open socket at once. See docs/operations.md.
   * @default 'auto'
   */
  tcpNoDelay?: boolean | 'auto';
  /**
   * The publish fast lane of `hub.listen()`: a well-formed `POST /pub/{channel}` that needs no
   * credentials is answered straight from the connection's bytes, without Node's HTTP parser and
   * request objects (about half of a publish's CPU; docs/operations.md). Anything else goes to
   * Node's HTTP server unchanged. No effect on a hub mounted in another server.
   * @default true
   */
  fastPublish?: boolean;
  /**
   * The poll side of the same lane: a plain long-poll or interval poll (`GET /sub/{channels}`
   * with only `since`, `last`, `timeout`, `mode=poll`, `transport=longpoll`, channels that need
   * no credentials; cross-origin too, with the Origin's CORS headers) is answered, or held, without Node's HTTP parser and request
   * objects: a held long-poll then costs its socket and one subscriber object (docs/operations.md).
   * Anything else goes to Node's HTTP server unchanged. No effect on a hub mounted in another server.
   * @default true
   */
  fastPoll?: boolean;
  /**
   * Give memory back once quiet: after this many ms with the event loop at least 95% idle, and when
   * V8's old generation holds 8 MB or more beyond what it uses, one full garbage collection runs (a
   * pause of 21–28 ms with 5,000 idle streams), compacting what a burst of connections left.
   * Checked once a second, process-wide. 0: never (V8 alone decides). See docs/operations.md.
   * @default 3000
   */
  compactWhenIdleMs?: number;
  /** Mount prefix, e.g. `/cometa` (routes become `/cometa/pub/...`). @default '' */
  prefix?: string;
  /**
   * Reverse proxies whose `X-Forwarded-For` is believed (as Express's `trust proxy`): IP addresses,
   * CIDR ranges (`10.0.0.0/8`, `fd00::/8`) and the names `loopback`, `linklocal`, `uniquelocal`;
   * a string is split at commas. A request from a listed peer counts against the per-IP limits
   * under the client address the trusted hops forwarded (the header is read right to left,
   * skipping trusted hops), and the fast lane takes it with its `X-Forwarded-For` and
   * `X-Forwarded-Proto`. From any other peer the header is ignored. See docs/operations.md.
   * @default []
   */
  trustProxy?: string | string[];
  /** Cross-origin settings. */
  cors?: CorsOptions;
  /** Limits. */
  limits?: LimitOptions;
  /** WebSocket transport settings. */
  websocket?: WebSocketOptions;
  /** Idempotent publish: how long and how many keys are remembered. */
  idempotency?: IdempotencyOptions;
  /** Presence bounds and timing (channels opt in with `channels: [{ pattern, presence: true }]`). */
  presence?: PresenceOptions;
  /** JWT channel authentication (docs/security.md); off unless set. */
  auth?: AuthOptions;
  /**
   * Per-channel policy rules; the first rule whose pattern matches a channel wins, a channel no
   * rule matches gets the defaults (no GET publishing, no pings).
   * @default []
   */
  channels?: ChannelRule[];
  /** A pino logger, or false for none. @default a pino logger at level `info` */
  logger?: Logger | false;
  /** Serve the demo pages and the simulated feed's static files. @default false */
  demo?: boolean;
  /**
   * Run the demo's SIMULATED feed (scores on `scores.*`, quotes on `quotes.*`) inside the hub; it
   * stops on `hub.close()`. `cometa serve --demo` turns it on unless `--no-feed`.
   * @default false
   */
  demoFeed?: boolean;
  /** Serve Prometheus metrics at `/metrics` (see docs/operations.md). @default true */
  metrics?: boolean;
  /**
   * Publish the hub's own stats on the channel `cometa.stats` every `statsIntervalMs` and serve the
   * dashboard page at `/dashboard`. On whenever `demo` is.
   * @default false
   */
  dashboard?: boolean;
  /** Milliseconds between two stats messages on `cometa.stats` (with `dashboard`). @default 1000 */
  statsIntervalMs?: number;
  /**
   * The Durable Streams protocol (docs/durable-streams.md), served under `streams.prefix`; `false`
   * turns it off.
   * @default {}
   */
  streams?: StreamsOptions | false;
}

/** Options of the Durable Streams routes (docs/durable-streams.md). */
export interface StreamsOptions {
  /** Path prefix of stream URLs, below the hub's `prefix`. @default '/v1/stream' */
  prefix?: string;
  /**
   * Where streams are kept: a store spec like `options.store` (`memory`, `sqlite:PATH`,
   * `redis://…`). Defaults to the hub's store: the same SQLite file or Redis server, or memory.
   * @default the hub's store
   */
  store?: string;
  /** Seconds a long-poll read waits for data before answering 204. @default 25 */
  longPollTimeout?: number;
  /** Seconds an SSE read stays open before the hub ends it (clients reconnect from their offset). @default 60 */
  sseMaxSeconds?: number;
  /**
   * Bytes one catch-up or long-poll read returns at most (one record at least). SSE answers read
   * at most 256 KiB of this at a time and send it in `data` events of at most 48 KiB (one JSON
   * message at least). @default 1048576
   */
  maxReadBytes?: number;
  /** Bytes of data one stream may hold; an append past it is refused (413). @default 268435456 */
  maxStreamBytes?: number;
  /**
   * Bytes the store holds over all streams: their data, their metadata, and a fixed overhead per
   * stream and per record (a record of 1 byte costs hundreds in memory). A create or append past it
   * is refused (507 `ERR_STREAMS_FULL`) and stores nothing; deleting or expiring a stream gives its
   * bytes back.
   * @default by store: 268435456 (256 MiB) on memory and Redis, 1073741824 (1 GiB) on SQLite
   */
  maxTotalBytes?: number;
  /** Streams the store holds at once; a create past it is refused (507 `ERR_STREAMS_FULL`). @default 100000 */
  maxStreams?: number;
  /**
   * Idempotent producers whose state one stream keeps (forgotten 7 days after their last append);
   * a new producer past it is refused (409 `ERR_TOO_MANY_PRODUCERS`).
   * @default 100
   */
  maxProducers?: number;
  /**
   * How deep forks of forks go (a fork of a stream that is no fork has depth 1); a deeper fork is
   * refused (409 `ERR_FORK_TOO_DEEP`). Every read of a fork reads through its sources.
   * @default 16
   */
  maxForkDepth?: number;
  /**
   * Messages one JSON-array append (or creating body) holds; more are refused (413
   * `ERR_TOO_MANY_MESSAGES`). JSON-mode bodies also nest at most `limits.maxJsonDepth` deep.
   * @default 10000
   */
  maxAppendMessages?: number;
  /**
   * Publish each message of a JSON-mode stream on the cometa channel `ds.{path with / as .}` too,
   * so `cometa/client`'s `subscribe()` tails it over every transport.
   * @default true
   */
  channels?: boolean;
  /**
   * Serve the protocol's reserved subscription APIs under `{prefix}/__ds/` (webhooks and
   * pull-wake, docs/durable-streams.md). Off by default: a webhook subscription makes the hub send
   * requests to a URL a client chose.
   * @default false
   */
  subscriptions?: boolean;
  /**
   * Catch-up reads whose answer has this many bytes or more are gzipped for clients that send
   * `Accept-Encoding: gzip` (never long-poll or SSE reads); `0` turns compression off.
   * @default 1024
   */
  gzipMinBytes?: number;
  /** zlib level (1 fastest to 9 smallest) of those answers. @default 6 */
  gzipLevel?: number;
  /**
   * Bytes of gzipped catch-up pages kept to answer the same page again without compressing it
   * again (least recently used first out); `0` keeps none.
   * @default 16777216 (16 MiB)
   */
  gzipCacheBytes?: number;
  /**
   * Compressions of catch-up answers running at once over the hub; a read that finds them all
   * busy is answered uncompressed, so readers cannot queue compression work or its buffers.
   * @default 1
   */
  gzipConcurrency?: number;
}

export interface ResolvedCors {
  readonly anyOrigin: boolean;
  readonly origins: readonly string[];
  readonly credentials: boolean;
  readonly maxAge: number;
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
}

/** The validated, frozen options the hub runs with. */
export interface ResolvedOptions {
  readonly store: string | import('./stores/store.js').Store;
  readonly dataDir: string;
  readonly retention: Readonly<Retention>;
  readonly retentionFor: (channel: string) => Retention;
  readonly heartbeatMs: number;
  readonly sseRetryMs: number;
  readonly longPollTimeout: number;
  readonly longPollMaxTimeout: number;
  readonly streamMaxBytes: number;
  readonly tcpNoDelay: boolean | 'auto';
  readonly fastPublish: boolean;
  readonly fastPoll: boolean;
  readonly compactWhenIdleMs: number;
  readonly prefix: string;
  /** `options.trustProxy` as given, split and trimmed. */
  readonly trustProxy: readonly string[];
  /** Whether a peer address is a trusted proxy; null when none is. */
  readonly trustedProxy: TrustedProxy | null;
  readonly cors: ResolvedCors;
  readonly limits: Readonly<Required<LimitOptions>>;
  readonly websocket: Readonly<Required<WebSocketOptions>>;
  readonly idempotency: Readonly<Required<IdempotencyOptions>>;
  readonly presence: Readonly<Required<PresenceOptions>>;
  /** The policy of a channel: the first matching `options.channels` rule, defaults filled in. */
  readonly channelPolicy: (channel: string) => ChannelPolicy;
  /** `options.auth` validated (keys loaded), or null when auth is off. */
  readonly auth: ResolvedAuth | null;
  readonly demo: boolean;
  readonly demoFeed: boolean;
  readonly metrics: boolean;
  readonly dashboard: boolean;
  readonly statsIntervalMs: number;
  readonly streams: ResolvedStreams | null;
}

export interface ResolvedStreams {
  readonly prefix: string;
  readonly store: string | null;
  readonly longPollMs: number;
  readonly sseMaxMs: number;
  readonly maxReadBytes: number;
  readonly maxStreamBytes: number;
  /** null: the store's default (SQLite 1 GiB, memory and Redis 256 MiB). */
  readonly maxTotalBytes: number | null;
  readonly maxStreams: number;
  readonly maxProducers: number;
  readonly maxForkDepth: number;
  readonly maxAppendMessages: number;
  readonly channels: boolean;
  readonly subscriptions: boolean;
  readonly gzipMinBytes: number;
  readonly gzipLevel: number;
  readonly gzipCacheBytes: number;
  readonly gzipConcurrency: number;
}

const KNOWN = new Set([
  'store',
  'dataDir',
  'retention',
  'retentionRules',
  'heartbeatMs',
  'sseRetryMs',
  'longPollTimeout',
  'longPollMaxTimeout',
  'streamMaxBytes',
  'tcpNoDelay',
  'fastPublish',
  'fastPoll',
  'compactWhenIdleMs',
  'prefix',
  'trustProxy',
  'cors',
  'limits',
  'websocket',
  'idempotency',
  'presence',
  'channels',
  'auth',
  'logger',
  'demo',
  'demoFeed',
  'metrics',
  'dashboard',
  'statsIntervalMs',
  'streams',
]);

/** Thrown for invalid options; the message names the option. */
export class OptionsError extends TypeError {
  override readonly name = 'OptionsError';
}

function int(name: string, v: unknown, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new OptionsError(
      `options.${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function bool<D extends boolean | 'auto' = boolean>(name: string, v: unknown, def: D): boolean | D {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') {
    const what = def === 'auto' ? "a boolean or 'auto'" : 'a boolean';
    throw new OptionsError(`options.${name} must be ${what}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function strings(name: string, v: unknown, def: readonly string[]): readonly string[] {
  if (v === undefined) return def;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw new OptionsError(`options.${name} must be an array of strings`);
  }
  return Object.freeze([...v]);
}

export const DEFAULT_ALLOW_HEADERS = [
  'Content-Type',
  'Authorization',
  'Last-Event-ID',
  'X-Requested-With',
  'X-CSRF-Token',
  'X-Cometa',
  'Idempotency-Key',
];

/** Validates options once and returns a frozen copy with every default filled in. */
export function resolveOptions(o: HubOptions = {}): ResolvedOptions {
  if (typeof o !== 'object' || o === null) throw new OptionsError('options must be an object');
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) throw new OptionsError(`options.${key} is not a known option`);
  }
  const dataDirOption = o.dataDir ?? './.cometa';
  const store = o.store ?? defaultStoreSpec(typeof dataDirOption === 'string' ? dataDirOption : './.cometa');
  if (typeof store !== 'string' && (typeof store !== 'object' || typeof store.append !== 'function')) {
    throw new OptionsError('options.store must be a store spec string or a Store');
  }
  const retention = Object.freeze({
    maxMessages: int('retention.maxMessages', o.retention?.maxMessages, 1000, 0),
    maxAgeMs: int('retention.maxAgeMs', o.retention?.maxAgeMs, 3_600_000, 1),
  });
  const rules = (o.retentionRules ?? []).map((r, i) => {
    if (!r || typeof r.pattern !== 'string' || !isChannelPattern(r.pattern)) {
      throw new OptionsError(`options.retentionRules[${i}].pattern must be a channel pattern`);
    }
    const value = Object.freeze({
      maxMessages: int(`retentionRules[${i}].maxMessages`, r.maxMessages, retention.maxMessages, 0),
      maxAgeMs: int(`retentionRules[${i}].maxAgeMs`, r.maxAgeMs, retention.maxAgeMs, 1),
    });
    return { match: compilePattern(r.pattern), value };
  });
  const retentionFor =
    rules.length === 0
      ? () => retention
      : (channel: string) => rules.find((r) => r.match(channel))?.value ?? retention;

  const longPollMaxTimeout = int('longPollMaxTimeout', o.longPollMaxTimeout, 60, 1, 3600);
  const prefix = o.prefix ?? '';
  if (typeof prefix !== 'string' || (prefix !== '' && !/^\/[\w\-./~]*[^/]$/.test(prefix))) {
    throw new OptionsError(`options.prefix must be '' or a path like '/cometa' (no trailing slash)`);
  }
  const c = o.cors ?? {};
  const origins = strings('cors.origins', c.origins, ['*']);
  const credentials = c.credentials ?? false;
  if (typeof credentials !== 'boolean') throw new OptionsError('options.cors.credentials must be a boolean');
  if (credentials && origins.includes('*')) {
    // Browsers refuse `*` with credentials (nchan's mistake); make the user list origins.
    throw new OptionsError('options.cors.credentials needs explicit options.cors.origins, not "*"');
  }
  for (const origin of origins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new OptionsError(
        `options.cors.origins: ${JSON.stringify(origin)} is not an origin like https://a.example`,
      );
    }
  }
  const cors: ResolvedCors = Object.freeze({
    anyOrigin: origins.includes('*'),
    origins,
    credentials,
    maxAge: int('cors.maxAge', c.maxAge, 86400, 0),
    allowHeaders: strings('cors.allowHeaders', c.allowHeaders, DEFAULT_ALLOW_HEADERS),
    exposeHeaders: strings('cors.exposeHeaders', c.exposeHeaders, []),
  });
  const l = o.limits ?? {};
  const headersTimeoutMs = int('limits.headersTimeoutMs', l.headersTimeoutMs, 30_000, 1000, 600_000);
  const limits = Object.freeze({
    maxBodyBytes: int('limits.maxBodyBytes', l.maxBodyBytes, 1 << 20, 1),
    maxJsonDepth: int('limits.maxJsonDepth', l.maxJsonDepth, 64, 1, 1000),
    maxFields: int('limits.maxFields', l.maxFields, 1000, 1, 1_000_000),
    maxChannelsPerSubscription: int(
      'limits.maxChannelsPerSubscription',
      l.maxChannelsPerSubscription,
      64,
      1,
      1024,
    ),
    maxPatternsPerSubscription: int(
      'limits.maxPatternsPerSubscription',
      l.maxPatternsPerSubscription,
      8,
      0,
      1024,
    ),
    maxPatternChannels: int('limits.maxPatternChannels', l.maxPatternChannels, 1000, 1, 100_000),
    maxBufferedBytes: int('limits.maxBufferedBytes', l.maxBufferedBytes, 1 << 20, 1024),
    maxBatch: int('limits.maxBatch', l.maxBatch, 1000, 1, 100_000),
    maxBatchBytes: int('limits.maxBatchBytes', l.maxBatchBytes, 1 << 20, 1024),
    maxHeaderBytes: int('limits.maxHeaderBytes', l.maxHeaderBytes, 16_384, 1024, 1 << 20),
    maxConnections: int('limits.maxConnections', l.maxConnections, 10_000, 0),
    maxConnectionsPerIp: int('limits.maxConnectionsPerIp', l.maxConnectionsPerIp, 256, 0),
    publishRatePerIp: int('limits.publishRatePerIp', l.publishRatePerIp, 100, 0, 1_000_000),
    publishRatePerToken: int('limits.publishRatePerToken', l.publishRatePerToken, 50, 0, 1_000_000),
    headersTimeoutMs,
    keepAliveTimeoutMs: int('limits.keepAliveTimeoutMs', l.keepAliveTimeoutMs, 65_000, 1000, 600_000),
    requestTimeoutMs: int(
      'limits.requestTimeoutMs',
      l.requestTimeoutMs,
      Math.max(60_000, headersTimeoutMs),
      1000,
      3_600_000,
    ),
  });
  if (limits.requestTimeoutMs < limits.headersTimeoutMs) {
    throw new OptionsError(
      `options.limits.requestTimeoutMs (${limits.requestTimeoutMs}) must be at least limits.headersTimeoutMs (${limits.headersTimeoutMs})`,
    );
  }
  const { trustProxy, trustedProxy } = resolveTrustProxy(o.trustProxy);
  const w = o.websocket ?? {};
  for (const key of ['perMessageDeflate', 'publish'] as const) {
    if (w[key] !== undefined && typeof w[key] !== 'boolean')
      throw new OptionsError(`options.websocket.${key} must be a boolean`);
  }
  const websocket = Object.freeze({
    maxPayload: int('websocket.maxPayload', w.maxPayload, 64 * 1024, 128, 64 << 20),
    perMessageDeflate: w.perMessageDeflate ?? false,
    publish: w.publish ?? true,
  });
  const idem = o.idempotency ?? {};
  if (typeof idem !== 'object' || idem === null)
    throw new OptionsError('options.idempotency must be an object');
  for (const key of Object.keys(idem)) {
    if (key !== 'windowMs' && key !== 'maxKeysPerChannel')
      throw new OptionsError(`options.idempotency.${key} is not a known option`);
  }
  const idempotency = Object.freeze({
    windowMs: int('idempotency.windowMs', idem.windowMs, 300_000, 1000, 86_400_000),
    maxKeysPerChannel: int('idempotency.maxKeysPerChannel', idem.maxKeysPerChannel, 1000, 1, 1_000_000),
  });
  const pres = o.presence ?? {};
  if (typeof pres !== 'object' || pres === null) throw new OptionsError('options.presence must be an object');
  for (const key of Object.keys(pres)) {
    if (!['maxMembers', 'coalesceMs', 'ttlMs', 'maxBytes', 'logEvents', 'logBytes', 'logMs'].includes(key))
      throw new OptionsError(`options.presence.${key} is not a known option`);
  }
  const presence = Object.freeze({
    maxMembers: int('presence.maxMembers', pres.maxMembers, 1000, 1, 1_000_000),
    coalesceMs: int('presence.coalesceMs', pres.coalesceMs, 5000, 0, 600_000),
    ttlMs: int('presence.ttlMs', pres.ttlMs, 15_000, 1000, 3_600_000),
    maxBytes: int('presence.maxBytes', pres.maxBytes, 65_536, 1024, 64 << 20),
    logEvents: int('presence.logEvents', pres.logEvents, 256, 1, 100_000),
    logBytes: int('presence.logBytes', pres.logBytes, 65_536, 1024, 64 << 20),
    logMs: int('presence.logMs', pres.logMs, 30_000, 1000, 3_600_000),
  });
  const channelPolicy = resolveChannelRules(o.channels);
  let auth: ResolvedAuth | null;
  try {
    auth = resolveAuth(o.auth);
  } catch (err) {
    if (err instanceof AuthConfigError) throw new OptionsError(err.message);
    throw err;
  }
  const dataDir = o.dataDir ?? './.cometa';
  if (typeof dataDir !== 'string' || dataDir === '') throw new OptionsError('options.dataDir must be a path');
  return Object.freeze({
    store,
    dataDir,
    retention,
    retentionFor,
    heartbeatMs: int('heartbeatMs', o.heartbeatMs, 15_000, 10),
    sseRetryMs: int('sseRetryMs', o.sseRetryMs, 2000, 0),
    longPollTimeout: int('longPollTimeout', o.longPollTimeout, 25, 1, longPollMaxTimeout),
    longPollMaxTimeout,
    streamMaxBytes: int('streamMaxBytes', o.streamMaxBytes, 256 * 1024, 1024),
    tcpNoDelay: o.tcpNoDelay === 'auto' ? 'auto' : bool('tcpNoDelay', o.tcpNoDelay, 'auto'),
    fastPublish: bool('fastPublish', o.fastPublish, true),
    fastPoll: bool('fastPoll', o.fastPoll, true),
    compactWhenIdleMs: int('compactWhenIdleMs', o.compactWhenIdleMs, 3000, 0, 86_400_000),
    prefix,
    trustProxy,
    trustedProxy,
    cors,
    limits,
    websocket,
    idempotency,
    presence,
    channelPolicy,
    auth,
    demo: bool('demo', o.demo, false),
    demoFeed: bool('demoFeed', o.demoFeed, false),
    metrics: bool('metrics', o.metrics, true),
    dashboard: bool('dashboard', o.dashboard, false) || o.demo === true,
    statsIntervalMs: int('statsIntervalMs', o.statsIntervalMs, 1000, 100, 3_600_000),
    streams: resolveStreams(o.streams),
  });
}

const STREAMS_KEYS = new Set([
  'prefix',
  'store',
  'longPollTimeout',
  'sseMaxSeconds',
  'maxReadBytes',
  'maxStreamBytes',
  'maxTotalBytes',
  'maxStreams',
  'maxProducers',
  'maxForkDepth',
  'maxAppendMessages',
  'channels',
  'subscriptions',
  'gzipMinBytes',
  'gzipLevel',
  'gzipCacheBytes',
  'gzipConcurrency',
]);

function resolveStreams(s: unknown): ResolvedStreams | null {
  if (s === false) return null;
  if (s === undefined) s = {};
  if (typeof s !== 'object' || s === null)
    throw new OptionsError('options.streams must be an object or false');
  const o = s as StreamsOptions;
  for (const key of Object.keys(o)) {
    if (!STREAMS_KEYS.has(key)) throw new OptionsError(`options.streams.${key} is not a known option`);
  }
  const prefix = o.prefix ?? '/v1/stream';
  if (typeof prefix !== 'string' || !/^\/[\w\-./~]*[^/]$/.test(prefix)) {
    throw new OptionsError(`options.streams.prefix must be a path like '/v1/stream' (no trailing slash)`);
  }
  if (o.store !== undefined && (typeof o.store !== 'string' || o.store === '')) {
    throw new OptionsError('options.streams.store must be a store spec string');
  }
  return Object.freeze({
    prefix,
    store: o.store ?? null,
    longPollMs: int('streams.longPollTimeout', o.longPollTimeout, 25, 1, 3600) * 1000,
    sseMaxMs: int('streams.sseMaxSeconds', o.sseMaxSeconds, 60, 1, 86_400) * 1000,
    maxReadBytes: int('streams.maxReadBytes', o.maxReadBytes, 1 << 20, 1024, 64 << 20),
    maxStreamBytes: int('streams.maxStreamBytes', o.maxStreamBytes, 256 << 20, 1),
    maxTotalBytes: o.maxTotalBytes === undefined ? null : int('streams.maxTotalBytes', o.maxTotalBytes, 0, 1),
    maxStreams: int('streams.maxStreams', o.maxStreams, 100_000, 1),
    maxProducers: int('streams.maxProducers', o.maxProducers, 100, 1),
    maxForkDepth: int('streams.maxForkDepth', o.maxForkDepth, 16, 1, 1000),
    maxAppendMessages: int('streams.maxAppendMessages', o.maxAppendMessages, 10_000, 1),
    channels: bool('streams.channels', o.channels, true),
    subscriptions: bool('streams.subscriptions', o.subscriptions, false),
    gzipMinBytes: int('streams.gzipMinBytes', o.gzipMinBytes, 1024, 0),
    gzipLevel: int('streams.gzipLevel', o.gzipLevel, 6, 1, 9),
    gzipCacheBytes: int('streams.gzipCacheBytes', o.gzipCacheBytes, 16 << 20, 0),
    gzipConcurrency: int('streams.gzipConcurrency', o.gzipConcurrency, 1, 1, 64),
  });
}

/** Validates `options.trustProxy` (a list, or one string of comma-separated entries) and compiles it. */
function resolveTrustProxy(v: unknown): { trustProxy: readonly string[]; trustedProxy: TrustedProxy | null } {
  if (v === undefined) return { trustProxy: Object.freeze([]), trustedProxy: null };
  const list = typeof v === 'string' ? v.split(',') : v;
  if (!Array.isArray(list) || !list.every((e) => typeof e === 'string'))
    throw new OptionsError('options.trustProxy must be a string or an array of strings');
  const entries = Object.freeze(list.map((e: string) => e.trim()).filter((e) => e !== ''));
  try {
    return { trustProxy: entries, trustedProxy: compileTrustProxy(entries) };
  } catch (err) {
    throw new OptionsError(`options.trustProxy: ${(err as Error).message}`);
  }
}

/** Fields a `options.channels` rule may have (extend this set when adding a policy field). */
const CHANNEL_RULE_KEYS = new Set(['pattern', 'publishGet', 'ping', 'subscribe', 'publish', 'presence']);

const DEFAULT_CHANNEL_POLICY: ChannelPolicy = Object.freeze({
  pattern: null,
  publishGet: false,
  ping: false,
  subscribe: 'token',
  publish: 'token',
  presence: false,
});

/** Validates `options.channels` and compiles it into a first-match-wins lookup. */
function resolveChannelRules(rules: unknown): (channel: string) => ChannelPolicy {
  if (rules === undefined) return () => DEFAULT_CHANNEL_POLICY;
  if (!Array.isArray(rules)) throw new OptionsError('options.channels must be an array of rules');
  const compiled = rules.map((r: unknown, i) => {
    const name = `options.channels[${i}]`;
    if (typeof r !== 'object' || r === null) throw new OptionsError(`${name} must be an object`);
    const rule = r as Record<string, unknown>;
    for (const key of Object.keys(rule)) {
      if (!CHANNEL_RULE_KEYS.has(key)) throw new OptionsError(`${name}.${key} is not a known field`);
    }
    if (typeof rule.pattern !== 'string' || !isChannelPattern(rule.pattern)) {
      throw new OptionsError(`${name}.pattern must be a channel pattern like 'chat.*' or 'analytics.**'`);
    }
    for (const key of ['publishGet', 'ping'] as const) {
      if (rule[key] !== undefined && typeof rule[key] !== 'boolean')
        throw new OptionsError(`${name}.${key} must be a boolean`);
    }
    if (rule.presence !== undefined && typeof rule.presence !== 'boolean' && rule.presence !== 'anonymous')
      throw new OptionsError(`${name}.presence must be true, false or 'anonymous'`);
    for (const key of ['subscribe', 'publish'] as const) {
      if (rule[key] !== undefined && rule[key] !== 'public' && rule[key] !== 'token')
        throw new OptionsError(`${name}.${key} must be 'public' or 'token'`);
    }
    const policy: ChannelPolicy = Object.freeze({
      pattern: rule.pattern,
      publishGet: rule.publishGet === true,
      ping: rule.ping === true,
      subscribe: rule.subscribe === 'public' ? 'public' : 'token',
      publish: rule.publish === 'public' ? 'public' : 'token',
      presence: rule.presence === 'anonymous' ? 'anonymous' : rule.presence === true,
    });
    return { pattern: rule.pattern, match: compilePattern(rule.pattern), policy };
  });
  const byPattern = new Map<string, ChannelPolicy>();
  return (channel) => {
    if (!isWildcard(channel)) return compiled.find((c) => c.match(channel))?.policy ?? DEFAULT_CHANNEL_POLICY;
    let policy = byPattern.get(channel);
    if (policy === undefined) {
      policy = patternPolicy(compiled, channel);
      if (byPattern.size >= 4096) byPattern.clear();
      byPattern.set(channel, policy);
    }
    return policy;
  };
}

/**
 * The policy of a wildcard subscription: an action is public only when every rule that decides some
 * channel of the pattern makes it public (the rules before the first that covers the whole pattern,
 * and that one); a pattern no rule covers has channels with the defaults, so it needs a token.
 * Pings and GET publishes concern single channels: off for patterns.
 */
function patternPolicy(
  rules: ReadonlyArray<{ pattern: string; policy: ChannelPolicy }>,
  pattern: string,
): ChannelPolicy {
  let subscribe = true;
  let publish = true;
  for (const r of rules) {
    if (!patternsOverlap(r.pattern, pattern)) continue;
    if (r.policy.subscribe !== 'public') subscribe = false;
    if (r.policy.publish !== 'public') publish = false;
    if (patternCovers(r.pattern, pattern))
      return Object.freeze({
        ...DEFAULT_CHANNEL_POLICY,
        subscribe: subscribe ? 'public' : 'token',
        publish: publish ? 'public' : 'token',
      });
  }
  return DEFAULT_CHANNEL_POLICY;
}
