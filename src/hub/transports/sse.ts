import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ControlFrame, SSE_OPEN_EVENT } from '../../protocol/envelope.js';
import type { HubCore } from '../core.js';
import { type Frame, type FrameRun, sseText } from '../frame.js';
import { StreamSubscriber, startStream } from './stream-base.js';
import type { SubscribeRequest, Transport } from './transport.js';

const HEARTBEAT = Buffer.from(':\n\n');

/**
 * Server-Sent Events. `id:` is the cursor after the message, `event:` its event name (or always
 * `message` with `?uniform=1`, for clients that cannot know every name), `data:` the envelope.
 * The open control frame is event `cometa.open`, never `open` (EventSource's own event).
 * `retry:` is sent once; a `:` comment is the heartbeat. EventSource resumes by itself with
 * `Last-Event-ID`, which the hub reads as the cursor.
 */
class SseSubscriber extends StreamSubscriber {
  readonly transport = 'sse';
  uniform = false;

  protected encode(f: Frame | FrameRun): Buffer {
    return this.uniform ? f.sseUniform : f.sse;
  }

  protected control(c: ControlFrame): Buffer {
    const open = c.event === 'open';
    const retry = open ? `retry: ${this.hub.options.sseRetryMs}\n` : '';
    const name = this.uniform ? 'message' : open ? SSE_OPEN_EVENT : c.event;
    return Buffer.from(retry + sseText(c.cursor, name, JSON.stringify(c)));
  }

  tick(): void {
    this.write(HEARTBEAT);
  }
}

export const sse: Transport = {
  name: 'sse',
  matches(req: IncomingMessage, query: URLSearchParams): boolean {
    const t = query.get('transport');
    if (t !== null) return t === 'sse';
    return (req.headers.accept ?? '').includes('text/event-stream');
  },
  handle(hub: HubCore, _req: IncomingMessage, res: ServerResponse, s: SubscribeRequest): void {
    startStream(hub, res, s, 'text/event-stream; charset=utf-8', false, (socket) => {
      const sub = new SseSubscriber(hub, s.channels, socket);
      sub.uniform = s.query.get('uniform') === '1';
      return sub;
    });
  },
};
