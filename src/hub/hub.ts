import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Logger, pino } from 'pino';
import { isChannelName } from '../protocol/channel.js';
import { formatCursor } from '../protocol/cursor.js';
import { DEFAULT_EVENT, isPublishableEvent } from '../protocol/envelope.js';
import { HubCore } from './core.js';
import { DemoFeed } from './demo-feed.js';
import { type AuthorizeHook, type AuthorizeHookOptions, setAuthorizeHook } from './http/auth.js';
import { compileOrigins } from './http/cors.js';
import { destroyDetached } from './http/detach.js';
import { FastLane } from './http/fast-lane.js';
import { answerClientError, answerConnect } from './http/limits.js';
import { HubError } from './http/respond.js';
import { createRouter, type Next } from './http/router.js';
import { parseIdempotencyKey, publishOnce } from './idempotency.js';
import { compactWhenIdle } from './idle-gc.js';
import { HubMetrics } from './metrics.js';
import { type HubOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { StatsPublisher } from './stats-publisher.js';
import { createStore } from './stores/index.js';
import { type Store, type StoredMessage, StoreUnavailableError } from './stores/store.js';
import { bridgeToChannels } from './streams/bridge.js';
import { Gzipper } from './streams/gzip.js';
import { newStreamEngine, type StreamEngine, startStreams } from './streams/index.js';

/** Channel info, as `GET /pub/{channel}` answers it. */
export interface ChannelInfo {
  channel: string;
  /** Id of the newest message ever published on the channel, or null. */
  lastId: string | null;
  /** Messages currently retained. */
  stored: number;
  /** Subscribers connected to this hub process. */
  subscribers: number;
}

/**
 * A cometa hub: takes messages published on channels and pushes them to subscribers over
 * long-poll, XHR streaming, SSE, WebSocket and JSONP, with history and gapless resume.
 *
 * @example
 * ```ts
 * import { createHub } from 'cometa';
 * const hub = createHub({ store: 'memory' });
 * await hub.listen(8080, '127.0.0.1');
 * await hub.publish('scores.nba', { home: 101, away: 99 });
 * ```
 */
export class Hub {
  /** The validated, frozen options. */
  readonly options: ResolvedOptions;
  /** The store holding history (`store.kind`: `memory`, `sqlite` or `redis`); see docs/stores.md. */
  readonly store: Store;
  /** The hub's pino logger (the `logger` option), or undefined with `logger: false`. */
  readonly log: Logger | undefined;
  /** @internal */
  readonly core: HubCore;
  /**
   * The request handler: mount it in `node:http`, Express (`app.use(hub.handler)`) or Fastify.
   * Routes outside the hub's prefix go to `next()` when given, else 404.
   */
  readonly handler: (req: IncomingMessage, res: ServerResponse, next?: Next) => void;
  /** The upgrade handler for WebSocket subscriptions: `server.on('upgrade', hub.upgrade)`. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Prometheus metrics (served at `/metrics`), unless the `metrics` option is false. */
  readonly metrics: HubMetrics | undefined;
  /** The Durable Streams engine (docs/durable-streams.md), unless the `streams` option is false. */
  readonly streams: StreamEngine | undefined;
  #stopStreams: (() => Promise<void>) | undefined;
  /** The simulated demo feed, when the `demoFeed` option is on. */
  readonly demoFeed: DemoFeed | undefined;
  readonly #stats: StatsPublisher | undefined;
  /** Resolves once the store is open. Requests arriving earlier wait for it. */
  readonly ready: Promise<void>;
  #ready = false;
  #server: Server | undefined;
  #fast: FastLane | undefined;
  /** Unregisters from idle compaction (idle-gc.ts). */
  #uncompact: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  /** listen() was called: its rejection reports a store that failed to open, so no log line too. */
  #listenCalled = false;

  constructor(options: HubOptions = {}) {
    this.options = resolveOptions(options);
    this.log = options.logger === false ? undefined : (options.logger ?? pino({ name: 'cometa' }));
    const o = this.options;
    this.store =
      typeof o.store === 'string'
        ? createStore(o.store, { retentionFor: o.retentionFor }, o.dataDir)
        : o.store;
    this.core = new HubCore(o, this.store, this.log);
    this.metrics = o.metrics ? new HubMetrics(this.core) : undefined;
    this.#stats = o.dashboard
      ? new StatsPublisher(this.core, (c, d, opt) => this.publish(c, d, opt), o.statsIntervalMs)
      : undefined;
    this.demoFeed = o.demoFeed ? new DemoFeed(this) : undefined;
    const streams = o.streams;
    this.streams = streams === null ? undefined : newStreamEngine(streams, o);
    const engine = this.streams;
    if (engine !== undefined && streams?.channels === true) {
      bridgeToChannels(engine, {
        publish: (c, d, opt) => this.publish(c, d, opt),
        drop: (c) => this.drop(c),
      });
    }
    const openStreams =
      engine === undefined
        ? Promise.resolve()
        : startStreams(engine).then((stop) => {
            this.#stopStreams = stop;
          });
    const opened = Promise.all([this.store.open(), openStreams]);
    // A store that failed to open leaves nothing open behind it: the stream store closes too.
    opened.catch(() => openStreams.then(() => this.#stopStreams?.()).catch(() => {}));
    this.ready = opened.then(() => {
      this.core.start();
      this.#stats?.start();
      this.demoFeed?.start();
      if (o.compactWhenIdleMs > 0) {
        this.#uncompact = compactWhenIdle(o.compactWhenIdleMs, (c) => {
          this.core.stats.idleCompactions++;
          this.log?.debug(
            { ms: Math.round(c.ms), heapBefore: c.heapBefore, heapAfter: c.heapAfter },
            'idle compaction',
          );
        });
      }
      this.#ready = true;
    });
    // Keep an unobserved failure from crashing the process; listen() and requests report it.
    // An unreachable store is an operating condition, not a bug: its message, without a stack.
    this.ready.catch((err: unknown) => {
      if (this.#listenCalled) return;
      if (err instanceof StoreUnavailableError)
        this.log?.error({ store: this.store.kind }, `store failed to open: ${err.message}`);
      else this.log?.error({ err }, 'store failed to open');
    });
    const ready = () => this.#ready && !this.core.closing;
    const router = createRouter({
      core: this.core,
      streams:
        engine === undefined || streams === null
          ? undefined
          : {
              engine,
              mount: o.prefix + streams.prefix,
              maxBodyBytes: o.limits.maxBodyBytes,
              longPollMs: streams.longPollMs,
              sseMaxMs: streams.sseMaxMs,
              sseKeepAliveMs: Math.min(o.heartbeatMs, streams.longPollMs),
              cors: o.cors,
              allowed: compileOrigins(o.cors),
              ready,
              subscriptions: streams.subscriptions,
              gzip:
                streams.gzipMinBytes === 0
                  ? undefined
                  : {
                      minBytes: streams.gzipMinBytes,
                      gzipper: new Gzipper(
                        streams.gzipLevel,
                        streams.gzipCacheBytes,
                        streams.gzipConcurrency,
                        this.core.stats,
                      ),
                    },
            },
      publish: (c, d, opt) => this.publish(c, d, opt),
      publishOnce: (c, d, opt) => this.publishOnce(c, d, opt),
      drop: (c) => this.drop(c),
      info: (c) => this.info(c),
      ready,
      metrics: this.metrics,
    });
    this.handler = (req, res, next) => {
      if (this.#ready) router.handler(req, res, next);
      else
        this.ready.then(
          () => router.handler(req, res, next),
          () => router.handler(req, res, next),
        );
    };
    this.upgrade = (req, socket, head) => {
      if (this.#ready) router.upgrade(req, socket, head);
      else
        this.ready.then(
          () => router.upgrade(req, socket, head),
          () => socket.destroy(),
        );
    };
  }

  /**
   * Publishes a message; resolves with its id once the store has it.
   * @example await hub.publish('quotes.AAPL', { price: 187.2 }, { event: 'quote' })
   */
  async publish(
    channel: string,
    data: unknown,
    options: { event?: string; key?: string } = {},
  ): Promise<string> {
    if (options.key !== undefined) {
      const event = options.event;
      return (
        await this.publishOnce(
          channel,
          data,
          event === undefined ? { key: options.key } : { event, key: options.key },
        )
      ).id;
    }
    const event = this.#checkPublish(channel, options.event);
    return this.#append(channel, event, data === undefined ? null : data);
  }

  /**
   * Publishes under an idempotency key: within `options.idempotency.windowMs`, the same key on the
   * same channel (and `scope`, the publisher's credential: default none) stores nothing again and
   * resolves with the first publish's id and `duplicate: true`. Rejects with
   * `ERR_IDEMPOTENCY_MISMATCH` (422) when the key was used with another event or data.
   * @example await hub.publishOnce('orders', { id: 42 }, { key: 'order-42' })
   */
  async publishOnce(
    channel: string,
    data: unknown,
    options: { event?: string; key: string; scope?: string },
  ): Promise<{ id: string; duplicate: boolean }> {
    const event = this.#checkPublish(channel, options.event);
    const key = parseIdempotencyKey(options.key);
    if (key === undefined) throw new HubError('ERR_BAD_IDEMPOTENCY_KEY', 'options.key is missing');
    if (!this.#ready) await this.ready;
    return publishOnce(this.core, channel, event, data === undefined ? null : data, key, options.scope ?? '');
  }

  /** Checks a publish's channel and event name; the event to store. */
  #checkPublish(channel: string, eventOption: string | undefined): string {
    if (!isChannelName(channel)) {
      throw new HubError(
        'ERR_BAD_CHANNEL',
        "channel names are segments of [A-Za-z0-9_~:-] joined by '.', at most 200 characters",
      );
    }
    const event = eventOption ?? DEFAULT_EVENT;
    if (!isPublishableEvent(event)) {
      throw new HubError(
        'ERR_BAD_EVENT',
        'event names match ^[A-Za-z][A-Za-z0-9_.:-]{0,63}$ and are not reserved (open, close, gap, deleted, heartbeat, error, join, leave, cometa.open)',
      );
    }
    return event;
  }

  /** Stores a message whose channel and event are valid (publish(), and the fast lane's own checks). */
  async #append(channel: string, event: string, data: unknown): Promise<string> {
    // One await fewer per publish once the store is open (the common case).
    if (!this.#ready) await this.ready;
    return this.#stored(await this.store.append(channel, event, data, Date.now()));
  }

  /** Counts a stored message and gives its id. */
  #stored(m: StoredMessage): string {
    this.core.stats.published++;
    return formatCursor(this.store.epoch, m.seq);
  }

  /**
   * #append() for the fast lane (which takes publishes only once the hub is ready): the id at once
   * from a store that stores synchronously (Store.appendNow), else its promise.
   */
  #appendFast(channel: string, data: unknown): string | Promise<string> {
    const store = this.store;
    if (store.appendNow === undefined) return this.#append(channel, DEFAULT_EVENT, data);
    return this.#stored(store.appendNow(channel, DEFAULT_EVENT, data, Date.now()));
  }

  /**
   * Installs the app's own access decision for channels that are not public (docs/security.md).
   * The hook replaces the token's grants (it sees them as `ctx.granted`); false refuses with 403
   * (401 when `options.auth` is set and no token came); a throwing hook refuses. `null` removes it.
   * A yes for a request carrying an ambient credential (any Cookie header by default; see
   * `options.ambient`) gets the CSRF defences: the hook may be reading the app's session cookie.
   * @example
   * hub.authorize(async ({ action, channel, claims }) =>
   *   action === 'subscribe' && channel === `user.${claims?.sub}`);
   */
  authorize(hook: AuthorizeHook | null, options?: AuthorizeHookOptions): this {
    setAuthorizeHook(this.core, hook, options);
    return this;
  }

  /** Channel info. */
  async info(channel: string): Promise<ChannelInfo> {
    await this.ready;
    const i = await this.store.info(channel);
    return {
      channel,
      lastId: i.lastSeq > 0 ? formatCursor(this.store.epoch, i.lastSeq) : null,
      stored: i.stored,
      subscribers: this.core.subscriberCount(channel),
    };
  }

  /** Drops a channel's history; its live subscribers get a `deleted` event. */
  async drop(channel: string): Promise<void> {
    await this.ready;
    await this.store.drop(channel);
  }

  /**
   * Starts an HTTP server for the hub (also handling WebSocket upgrades).
   * @returns the address it listens on
   */
  async listen(port = 8080, host = '127.0.0.1'): Promise<AddressInfo> {
    this.#listenCalled = true;
    await this.ready;
    const limits = this.options.limits;
    // requireHostHeader: false so that a request without Host gets the router's JSON 400, not Node's bare one.
    // The head and request deadlines are checked every second (Node's default: every 30 s).
    const server = createServer(
      { maxHeaderSize: limits.maxHeaderBytes, requireHostHeader: false, connectionsCheckingInterval: 1000 },
      this.handler,
    );
    server.on('upgrade', this.upgrade);
    // Parser refusals (431, 408, 400) answered as cometa JSON errors, not Node's bare status line.
    server.on('clientError', answerClientError);
    server.on('connect', answerConnect);
    // Node's request deadline ends when the request (head and body) is complete: a publish whose
    // body stops arriving is cut with 408, a stream or held poll (complete requests) is not.
    server.requestTimeout = limits.requestTimeoutMs;
    server.headersTimeout = limits.headersTimeoutMs;
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    if (this.options.fastPublish || this.options.fastPoll) {
      this.#fast = new FastLane(server, {
        core: this.core,
        // The lane takes only plain valid channel names (isChannelName) and the default event.
        publish: (c, d) => this.#appendFast(c, d === undefined ? null : d),
        ready: () => this.#ready && !this.core.closing,
      });
    }
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /** The server started by `listen()`, if any. */
  get server(): Server | undefined {
    return this.#server;
  }

  /**
   * Graceful close: stops accepting, ends every stream with a final `close` event (reason
   * `shutdown`), answers pending long-polls, then closes the server and the store.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.ready.catch(() => {});
      this.demoFeed?.stop();
      this.#stats?.stop();
      this.#uncompact?.();
      this.core.endAll('shutdown');
      this.streams?.wakeAll();
      await this.core.presence.close().catch(() => {});
      this.#fast?.close();
      // Give written close frames a moment to leave, then cut what remains. Stream sockets left
      // the server's connection list (http/detach.ts): closeAllConnections() does not see them.
      const server = this.#server;
      const cut = () => {
        destroyDetached(this.core);
        this.#fast?.destroyAll();
        server?.closeAllConnections();
      };
      if (server) {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(cut, 200).unref();
        });
      } else setTimeout(cut, 200).unref();
      await this.#stopStreams?.();
      await this.store.close();
    })();
    return this.#closing;
  }
}

/** Creates a hub. See {@link HubOptions} for every option and its default. */
export function createHub(options: HubOptions = {}): Hub {
  return new Hub(options);
}
