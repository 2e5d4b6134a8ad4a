import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ControlFrame } from '../../protocol/envelope.js';
import type { HubCore } from '../core.js';
import { chunked, Frame, type FrameRun } from '../frame.js';
import { StreamSubscriber, startStream } from './stream-base.js';
import type { SubscribeRequest, Transport } from './transport.js';

/** An empty line: the NDJSON heartbeat (a progress event for XHR readers; parsers skip it). */
const HEARTBEAT = chunked('\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
const NEWLINE = Buffer.from('\n');

/**
 * HTTP streaming: chunked `application/x-ndjson`, one JSON object per line, readable by
 * XMLHttpRequest at readyState 3 (the chapter's technique). Envelope lines carry their cursor in
 * `id`; the first line is the `open` control frame and the last a `close` frame. Because XHR keeps
 * the whole responseText, the hub ends the stream after `streamMaxBytes` (`close` with reason
 * `recycle`) and the client reconnects from its cursor.
 *
 * To an HTTP/1.0 client, which cannot read chunked framing (RFC 9112 §6.1), the same lines go out
 * unframed in a close-delimited body; those bytes are built per subscriber (a rare client).
 */
class NdjsonSubscriber extends StreamSubscriber {
  readonly transport = 'stream';
  /** Lines without chunk framing (HTTP/1.0). */
  readonly plain: boolean;

  constructor(hub: HubCore, channels: string[], socket: Socket, plain: boolean) {
    super(hub, channels, socket);
    this.plain = plain;
  }

  protected encode(f: Frame | FrameRun): Buffer {
    if (!this.plain) return f.chunk;
    if (f instanceof Frame) return Buffer.from(`${f.json}\n`);
    let text = '';
    for (const frame of f.frames) text += `${frame.json}\n`;
    return Buffer.from(text);
  }

  protected control(c: ControlFrame): Buffer {
    const line = `${JSON.stringify(c)}\n`;
    return this.plain ? Buffer.from(line) : chunked(line);
  }

  protected override trailer(): Buffer | undefined {
    return this.plain ? undefined : LAST_CHUNK;
  }

  protected override get maxBytes(): number {
    return this.hub.options.streamMaxBytes;
  }

  tick(): void {
    this.write(this.plain ? NEWLINE : HEARTBEAT);
  }
}

export const stream: Transport = {
  name: 'stream',
  matches(_req: IncomingMessage, query: URLSearchParams): boolean {
    return query.get('transport') === 'stream';
  },
  handle(hub: HubCore, req: IncomingMessage, res: ServerResponse, s: SubscribeRequest): void {
    const plain = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
    startStream(
      hub,
      res,
      s,
      'application/x-ndjson; charset=utf-8',
      !plain,
      (socket) => new NdjsonSubscriber(hub, s.channels, socket, plain),
    );
  },
};
