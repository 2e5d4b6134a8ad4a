import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { isChannelName, isChannelPattern, isWildcard } from '../../protocol/channel.js';
import { formatCursor } from '../../protocol/cursor.js';
import {
  type CloseReason,
  type ControlFrame,
  DEFAULT_EVENT,
  isPublishableEvent,
} from '../../protocol/envelope.js';
import type { HubErrorCode } from '../../protocol/errors.js';
import type { HubCore } from '../core.js';
import type { Frame, FrameRun } from '../frame.js';
import { authorize, type Credentials, publisherScope } from '../http/auth.js';
import { jsonTooDeep } from '../http/body-bounds.js';
import { checkPublishRate, clientIp } from '../http/limits.js';
import { presenceSnapshot } from '../http/presence.js';
import { isHubError, rawErrorAnswer } from '../http/respond.js';
import { parseIdempotencyKey, publishOnce } from '../idempotency.js';
import { StoreUnavailableError } from '../stores/store.js';
import { Subscriber } from '../subscriber.js';
import { waitDrain } from './drain.js';
import type { SubscribeRequest, UpgradeTransport } from './transport.js';

/**
 * WebSocket close codes. Codes 4000-4999 are cometa's own (docs/websocket.md); the client reconnects with its
 * cursor after every one of them except 4001 (auth).
 */
export const CLOSE_CODES: Readonly<Record<CloseReason, number>> = Object.freeze({
  shutdown: 4000,
  auth: 4001,
  'slow-consumer': 4002,
  kicked: 4003,
  idle: 4004,
  recycle: 4005,
});

/** Error raised while handling one client frame; becomes an `error` frame, never a close. */
class FrameError extends Error {
  readonly code: HubErrorCode;
  constructor(code: HubErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The client's command frames (JSON text). */
interface Command {
  type?: unknown;
  id?: unknown;
  channels?: unknown;
  channel?: unknown;
  event?: unknown;
  data?: unknown;
  key?: unknown;
}

/**
 * One WebSocket connection. Envelopes go out as text frames (the Frame's shared `text` bytes: a
 * message is serialized once for every socket); the first frame is the `open` control frame, the
 * last (when the hub ends the socket) a `close` control frame followed by a 4000-range close code.
 */
export class WebSocketSubscriber extends Subscriber {
  readonly transport = 'websocket';
  readonly streaming = true;
  readonly ws: WebSocket;
  /**
   * The raw socket, for writing pre-framed envelopes (Frame.ws) when no extension was negotiated;
   * undefined with permessage-deflate, where every frame must go through `ws.send()`.
   */
  readonly raw: Duplex | undefined;
  /** The upgraded socket (TCP_NODELAY switching), whatever the extensions. */
  readonly socket: Duplex;
  /** Pings sent since the peer's last pong (or any frame it sent). */
  unanswered = 0;
  /** The upgrade's credentials: every subscribe/publish frame is authorized with them (http/auth.ts). */
  credentials: Credentials | undefined;
  /** The peer address (publish rate limit per IP). */
  ip = 'unknown';

  /** Authorizes one action of a frame; refusals become `error` frames with the HTTP code. */
  async allow(action: 'subscribe' | 'publish', channel: string): Promise<void> {
    const creds = this.credentials ?? { claims: null, source: null, expiresAt: 0, req: undefined };
    try {
      await authorize(this.hub, creds, action, channel);
      if (action === 'publish') checkPublishRate(this.hub, this.ip, creds);
    } catch (err) {
      if (isHubError(err)) throw new FrameError(err.code, err.message);
      throw err;
    }
  }

  constructor(hub: HubCore, channels: string[], ws: WebSocket, socket: Duplex) {
    super(hub, channels);
    this.ws = ws;
    // ws writes its own frames (acks, pings, close) synchronously unless a compression extension
    // queues them, so with no extension our direct writes keep their order on the socket.
    this.raw = ws.extensions === '' ? socket : undefined;
    this.socket = socket;
  }

  override setNoDelay(noDelay: boolean): void {
    (this.socket as Partial<Socket>).setNoDelay?.(noDelay);
  }

  /**
   * Sends an envelope: the frame's shared pre-framed bytes straight to the socket (one write, no
   * per-socket framing), or through `ws.send()` when an extension must transform it.
   */
  send(frame: Frame): void {
    if (!this.#writable()) return;
    if (this.raw !== undefined) this.raw.write(frame.ws);
    else this.ws.send(frame.text, { binary: false });
  }

  /** Only without an extension: a run's joined bytes are complete frames for the raw socket. */
  override get coalesces(): boolean {
    return this.raw !== undefined;
  }

  override sendRun(run: FrameRun): void {
    if (this.#writable()) this.raw?.write(run.ws);
  }

  begin(batch: Frame[]): void {
    this.control({ event: 'open', cursor: this.cursor, channels: this.channels, transport: 'websocket' });
    for (const f of batch) this.send(f);
  }

  more(batch: Frame[]): void {
    for (const f of batch) this.send(f);
  }

  override drained(): Promise<void> | undefined {
    return waitDrain(this.socket, this);
  }

  /** Sends JSON that is not an envelope (control frames, acks, errors). */
  json(value: unknown): void {
    if (this.ws.readyState === 1) this.ws.send(JSON.stringify(value));
  }

  control(c: ControlFrame): void {
    this.json(c);
  }

  /** Whether an envelope may be written now; drops a peer that stopped reading (bounded memory). */
  #writable(): boolean {
    if (this.closed || this.ws.readyState !== 1) return false;
    if (this.ws.bufferedAmount > this.hub.options.limits.maxBufferedBytes) {
      this.hub.stats.slowConsumerDrops++;
      this.end('slow-consumer');
      return false;
    }
    return true;
  }

  end(reason: CloseReason): void {
    if (this.closed) return;
    this.detach();
    const ws = this.ws;
    if (ws.readyState !== 1) {
      ws.terminate();
      return;
    }
    // A slow consumer's close frame waits behind its unread buffer; don't add a control frame.
    if (reason !== 'slow-consumer') this.control({ event: 'close', cursor: this.cursor, reason });
    ws.close(CLOSE_CODES[reason], reason);
    // A peer that never completes the closing handshake (or never reads) must not hold the socket.
    setTimeout(() => ws.terminate(), reason === 'slow-consumer' ? 1000 : 2000).unref();
  }

  /**
   * The hub's heartbeat sweep: a peer that did not pong after two pings in a row is dead. One
   * missed ping is not enough: when the hub's own event loop stalls for longer than a heartbeat,
   * the next turn runs its timers, and so this sweep, before it reads the pong already waiting in
   * the socket.
   */
  tick(): void {
    if (this.unanswered >= 2) {
      this.detach();
      this.ws.terminate();
      return;
    }
    this.unanswered++;
    if (this.ws.readyState === 1) this.ws.ping();
  }

  /** Handles one client frame; every command is answered by an `ack` or an `error` frame. */
  async command(raw: RawData, isBinary: boolean): Promise<void> {
    let cmd: Command;
    let id: unknown = null;
    try {
      if (isBinary) throw new FrameError('ERR_BAD_FRAME', 'frames must be JSON text, not binary');
      const bytes = frameBytes(raw);
      // The frame object is one level around the published data (limits.maxJsonDepth).
      const maxDepth = this.hub.options.limits.maxJsonDepth;
      if (jsonTooDeep(bytes, maxDepth + 1))
        throw new FrameError(
          'ERR_JSON_TOO_DEEP',
          `the frame's data nests arrays and objects more than ${maxDepth} deep (limits.maxJsonDepth)`,
        );
      try {
        cmd = JSON.parse(bytes.toString()) as Command;
      } catch {
        throw new FrameError('ERR_BAD_FRAME', 'a frame must be a JSON object');
      }
      if (typeof cmd !== 'object' || cmd === null || Array.isArray(cmd))
        throw new FrameError('ERR_BAD_FRAME', 'a frame must be a JSON object');
      if (typeof cmd.id === 'number' || typeof cmd.id === 'string') id = cmd.id;
      if (cmd.type === 'subscribe' || cmd.type === 'unsubscribe') {
        const limits = this.hub.options.limits;
        const listed = channelList(cmd.channels, limits.maxPatternsPerSubscription);
        const next =
          cmd.type === 'subscribe'
            ? [...new Set([...this.channels, ...listed])]
            : this.channels.filter((c) => !listed.includes(c));
        const max = limits.maxChannelsPerSubscription;
        if (next.length > max)
          throw new FrameError('ERR_TOO_MANY_CHANNELS', `at most ${max} channels per subscription`);
        if (next.filter(isWildcard).length > limits.maxPatternsPerSubscription)
          throw new FrameError(
            'ERR_TOO_MANY_CHANNELS',
            `at most ${limits.maxPatternsPerSubscription} wildcard patterns per subscription`,
          );
        if (cmd.type === 'subscribe') {
          for (const c of listed) if (!this.channels.includes(c)) await this.allow('subscribe', c);
        }
        // Added channels start at the connection's cursor: live messages after it, no replay.
        if (!this.closed) this.hub.setChannels(this, next);
        this.json({ type: 'ack', id, channels: next });
      } else if (cmd.type === 'presence') {
        if (typeof cmd.channel !== 'string' || !isChannelName(cmd.channel))
          throw new FrameError('ERR_BAD_CHANNEL', 'channel must be a channel name');
        await this.allow('subscribe', cmd.channel);
        let snapshot: Awaited<ReturnType<typeof presenceSnapshot>>;
        try {
          snapshot = await presenceSnapshot(this.hub, cmd.channel);
        } catch (err) {
          if (isHubError(err)) throw new FrameError(err.code, err.message);
          throw err;
        }
        this.json({ type: 'presence', id, ...snapshot });
      } else if (cmd.type === 'publish') {
        const r = await this.publish(cmd);
        this.json(
          r.duplicate
            ? { type: 'ack', id, messageId: r.id, duplicate: true }
            : { type: 'ack', id, messageId: r.id },
        );
      } else {
        throw new FrameError('ERR_BAD_FRAME', 'type must be subscribe, unsubscribe, publish or presence');
      }
    } catch (err) {
      let code: HubErrorCode = 'ERR_INTERNAL';
      let message = 'internal error';
      if (err instanceof FrameError) ({ code, message } = err);
      else if (err instanceof StoreUnavailableError) {
        code = 'ERR_STORE_UNAVAILABLE';
        message = `the ${this.hub.store.kind} store cannot be reached; retry later`;
      } else this.hub.log?.error({ err }, 'websocket command failed');
      this.json({ type: 'error', id, error: { code, message } });
    }
  }

  async publish(cmd: Command): Promise<{ id: string; duplicate: boolean }> {
    const hub = this.hub;
    if (!hub.options.websocket.publish)
      throw new FrameError('ERR_PUBLISH_DISABLED', 'publishing over WebSocket is disabled on this hub');
    if (typeof cmd.channel !== 'string' || !isChannelName(cmd.channel))
      throw new FrameError('ERR_BAD_CHANNEL', 'channel must be a channel name');
    await this.allow('publish', cmd.channel);
    const event = cmd.event ?? DEFAULT_EVENT;
    if (typeof event !== 'string' || !isPublishableEvent(event))
      throw new FrameError(
        'ERR_BAD_EVENT',
        'event must match ^[A-Za-z][A-Za-z0-9_.:-]{0,63}$ and not be reserved',
      );
    let key: string | undefined;
    try {
      key = parseIdempotencyKey(cmd.key ?? undefined);
    } catch (err) {
      if (isHubError(err)) throw new FrameError(err.code, err.message);
      throw err;
    }
    if (hub.closing) throw new FrameError('ERR_SHUTTING_DOWN', 'the hub is shutting down');
    if (key !== undefined) {
      const scope = publisherScope(this.credentials);
      try {
        return await publishOnce(hub, cmd.channel, event, cmd.data ?? null, key, scope);
      } catch (err) {
        if (isHubError(err)) throw new FrameError(err.code, err.message);
        throw err;
      }
    }
    const m = await hub.store.append(cmd.channel, event, cmd.data ?? null, Date.now());
    hub.stats.published++;
    return { id: formatCursor(hub.epoch, m.seq), duplicate: false };
  }
}

/** A text message as one Buffer (ws hands over fragmented messages as a list of chunks). */
function frameBytes(raw: RawData): Buffer {
  if (Buffer.isBuffer(raw)) return raw;
  if (Array.isArray(raw)) return Buffer.concat(raw);
  return Buffer.from(raw);
}

function channelList(v: unknown, maxPatterns: number): string[] {
  if (
    !Array.isArray(v) ||
    v.length === 0 ||
    !v.every(
      (c) =>
        typeof c === 'string' &&
        (isChannelName(c) || (maxPatterns > 0 && isWildcard(c) && isChannelPattern(c))),
    )
  )
    throw new FrameError(
      'ERR_BAD_CHANNEL',
      maxPatterns > 0
        ? 'channels must be a non-empty array of channel names or wildcard patterns'
        : 'channels must be a non-empty array of channel names',
    );
  return v as string[];
}

function noSubprotocol(): false {
  return false;
}

/** One `ws` server per hub, without a listening socket of its own (`noServer`). */
const servers = new WeakMap<HubCore, WebSocketServer>();

function serverFor(hub: HubCore): WebSocketServer {
  let wss = servers.get(hub);
  if (wss === undefined) {
    const o = hub.options.websocket;
    wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxPayload,
      perMessageDeflate: o.perMessageDeflate,
      // The router already checked path, channels, cursor and Origin.
      clientTracking: false,
      // The hub speaks no subprotocol: answer none (ws would otherwise echo the client's first,
      // agreeing to a protocol it does not speak; RFC 6455 §4.2.2).
      handleProtocols: noSubprotocol,
    });
    servers.set(hub, wss);
  }
  return wss;
}

/**
 * The connection's listeners, defined out here so that they close over `hub` and `sub` only, not
 * over the upgrade's request and parameters (kept alive as long as the connection otherwise).
 */
function listen(hub: HubCore, sub: WebSocketSubscriber, ws: WebSocket): void {
  ws.on('pong', () => {
    sub.unanswered = 0;
  });
  ws.on('message', (data, isBinary) => {
    sub.unanswered = 0;
    void sub.command(data, isBinary);
  });
  ws.on('close', () => sub.detach());
  // Protocol errors (maxPayload, bad frames) close the socket with their own code; just log.
  ws.on('error', (err) => hub.log?.debug({ err }, 'websocket error'));
}

/**
 * WebSocket subscriptions: `GET /sub/{channels}` with `Upgrade: websocket`. `handleUpgrade` runs
 * on whatever server received the upgrade (the hub's own, or an Express/Fastify app's server via
 * `server.on('upgrade', hub.upgrade)`).
 */
export const websocket: UpgradeTransport = {
  name: 'websocket',
  upgrade(hub: HubCore, req: IncomingMessage, socket: Duplex, head: Buffer, s: SubscribeRequest): void {
    if (hub.closing) {
      socket.end(
        rawErrorAnswer(503, 'ERR_SHUTTING_DOWN', 'the hub is shutting down', { 'Retry-After': '1' }),
        // end() only half-closes; a peer that never closes would hold the socket.
        () => socket.destroy(),
      );
      return;
    }
    serverFor(hub).handleUpgrade(req, socket, head, (ws) => {
      // ws turns Nagle off on every socket it takes; the hub's option decides.
      if (!hub.noDelay) (socket as Partial<Socket>).setNoDelay?.(false);
      const sub = new WebSocketSubscriber(hub, s.channels, ws, socket);
      sub.credentials = s.credentials;
      sub.expiresAt = s.credentials?.expiresAt ?? 0;
      sub.presence = s.presence;
      sub.ip = clientIp(hub, req);
      listen(hub, sub, ws);
      hub.attach(sub, s.start).catch((err: unknown) => {
        hub.log?.warn({ err }, 'websocket subscription failed');
        sub.detach();
        if (ws.readyState === 1) {
          sub.json({
            type: 'error',
            id: null,
            error: { code: 'ERR_STORE_UNAVAILABLE', message: 'history could not be read' },
          });
          ws.close(1011, 'store unavailable');
        } else ws.terminate();
      });
    });
  },
};
