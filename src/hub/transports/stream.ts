import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ControlFrame } from '../../protocol/envelope.js';
import type { HubCore } from '../core.js';
import { chunked, type Frame, type FrameRun } from '../frame.js';
import { StreamSubscriber, startStream } from './stream-base.js';
import type { SubscribeRequest, Transport } from './transport.js';

/** An empty line: the NDJSON heartbeat (a progress event for XHR readers; parsers skip it). */
const HEARTBEAT = chunked('\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

/**
 * HTTP streaming: chunked `application/x-ndjson`, one JSON object per line, readable by
 * XMLHttpRequest at readyState 3 (the chapter's technique). Envelope lines carry their cursor in
 * `id`; the first line is the `open` control frame and the last a `close` frame. Because XHR keeps
 * the whole responseText, the hub ends the stream after `streamMaxBytes` (`close` with reason
 * `recycle`) and the client reconnects from its cursor.
 */
class NdjsonSubscriber extends StreamSubscriber {
  readonly transport = 'stream';

  protected encode(f: Frame | FrameRun): Buffer {
    return f.chunk;
  }

  protected control(c: ControlFrame): Buffer {
    return chunked(`${JSON.stringify(c)}\n`);
  }

  protected override trailer(): Buffer {
    return LAST_CHUNK;
  }

  protected override get maxBytes(): number {
    return this.hub.options.streamMaxBytes;
  }

  tick(): void {
    this.write(HEARTBEAT);
  }
}

export const stream: Transport = {
  name: 'stream',
  matches(_req: IncomingMessage, query: URLSearchParams): boolean {
    return query.get('transport') === 'stream';
  },
  handle(hub: HubCore, _req: IncomingMessage, res: ServerResponse, s: SubscribeRequest): void {
    startStream(
      hub,
      res,
      s,
      'application/x-ndjson; charset=utf-8',
      true,
      (socket) => new NdjsonSubscriber(hub, s.channels, socket),
    );
  },
};
