import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { CloseReason, ControlFrame } from '../../protocol/envelope.js';
import type { HubCore } from '../core.js';
import type { Frame, FrameRun } from '../frame.js';
import { detachResponse } from '../http/detach.js';
import { Subscriber } from '../subscriber.js';
import { waitDrain } from './drain.js';
import type { SubscribeRequest } from './transport.js';

/** Headers every stream sends so proxies neither cache nor buffer it. */
export const STREAM_HEADERS = {
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
  'X-Content-Type-Options': 'nosniff',
} as const;

/**
 * Starts a long-lived response and returns its socket, so frames are written straight to the
 * socket: the shared pre-encoded bytes go out without ServerResponse's per-write bookkeeping.
 * `chunked: false` gives a close-delimited body (no chunk framing at all).
 */
export function openStream(
  res: ServerResponse,
  headers: Record<string, string>,
  chunked: boolean,
  noDelay: boolean,
): Socket | undefined {
  if (chunked) headers['Transfer-Encoding'] = 'chunked';
  else {
    // Removing both framing headers makes Node send a close-delimited body.
    res.removeHeader('Content-Length');
    res.removeHeader('Transfer-Encoding');
  }
  headers.Connection = 'close';
  res.writeHead(200, headers);
  res.flushHeaders();
  const socket = res.socket;
  if (!socket || socket.destroyed) return undefined;
  socket.setNoDelay(noDelay);
  return socket;
}

/**
 * A subscriber on an open HTTP stream (SSE, NDJSON). Subclasses say how frames are encoded;
 * this class does the writing, the slow-consumer check, recycling and closing.
 */
export abstract class StreamSubscriber extends Subscriber {
  readonly streaming = true;
  readonly socket: Socket;
  /** Bytes written so far (for `streamMaxBytes` recycling, where the transport uses it). */
  written = 0;

  constructor(hub: HubCore, channels: string[], socket: Socket) {
    super(hub, channels);
    this.socket = socket;
  }

  /** The bytes of a frame (or of a run of frames, back to back) on this transport. */
  protected abstract encode(frame: Frame | FrameRun): Buffer;
  /** The bytes of a control frame (open/close). */
  protected abstract control(frame: ControlFrame): Buffer;
  /** The terminator written after the close frame (e.g. the last chunk), if any. */
  protected trailer(): Buffer | undefined {
    return undefined;
  }
  /** Bytes after which the stream is recycled (0: never). */
  protected get maxBytes(): number {
    return 0;
  }

  send(frame: Frame): void {
    this.write(this.encode(frame));
  }

  override setNoDelay(noDelay: boolean): void {
    this.socket.setNoDelay(noDelay);
  }

  override get coalesces(): boolean {
    return true;
  }

  override sendRun(run: FrameRun): void {
    this.write(this.encode(run));
  }

  begin(batch: Frame[]): void {
    this.write(
      this.control({
        event: 'open',
        cursor: this.cursor,
        channels: this.channels,
        transport: this.transport,
      }),
    );
    for (const f of batch) this.write(this.encode(f));
  }

  more(batch: Frame[]): void {
    for (const f of batch) this.write(this.encode(f));
  }

  override drained(): Promise<void> | undefined {
    return waitDrain(this.socket, this);
  }

  /** Writes bytes; drops the connection when the peer stops reading (bounded memory per connection). */
  protected write(buf: Buffer): void {
    if (this.closed) return;
    const socket = this.socket;
    if (socket.writableLength > this.hub.options.limits.maxBufferedBytes) {
      this.hub.stats.slowConsumerDrops++;
      this.hub.stats.slowConsumerBytes += socket.writableLength;
      this.end('slow-consumer');
      return;
    }
    socket.write(buf);
    this.written += buf.length;
    const max = this.maxBytes;
    if (max !== 0 && this.written >= max && this.pending === null) this.end('recycle');
  }

  end(reason: CloseReason): void {
    if (this.closed) return;
    this.detach();
    const socket = this.socket;
    if (socket.destroyed) return;
    socket.write(this.control({ event: 'close', cursor: this.cursor, reason }));
    const t = this.trailer();
    if (t) socket.write(t);
    socket.end();
    // A peer that does not read would keep the socket (and its buffer) forever: bound it.
    if (reason === 'slow-consumer') socket.setTimeout(1000, () => socket.destroy());
  }

  /** Called when the peer goes away. */
  readonly onClose = (): void => {
    this.detach();
  };
}

/**
 * Starts a stream subscription: opens the response, builds the subscriber on its socket, ties it to
 * the connection's end and attaches it to the hub (replay, then live). Shared by SSE and NDJSON.
 */
export function startStream(
  hub: HubCore,
  res: ServerResponse,
  s: SubscribeRequest,
  contentType: string,
  chunkedBody: boolean,
  make: (socket: Socket) => StreamSubscriber,
): void {
  const socket = openStream(
    res,
    { ...s.headers, ...STREAM_HEADERS, 'Content-Type': contentType },
    chunkedBody,
    hub.noDelay,
  );
  if (!socket) return;
  const sub = make(socket);
  sub.expiresAt = s.credentials?.expiresAt ?? 0;
  sub.presence = s.presence;
  res.on('close', sub.onClose);
  // Keep only the socket: its 'close' runs the response's 'close' listeners (http/detach.ts).
  detachResponse(res, socket, hub);
  hub.attach(sub, s.start).catch((err: unknown) => {
    hub.log?.warn({ err, transport: sub.transport }, 'stream subscription failed');
    sub.end('shutdown');
  });
}
