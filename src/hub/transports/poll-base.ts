import type { ServerResponse } from 'node:http';
import type { HubCore } from '../core.js';
import { type Frame, pollBody } from '../frame.js';
import { Subscriber } from '../subscriber.js';
import type { TransportName } from './transport.js';

const JSON_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};
const JS_HEADERS = {
  'Content-Type': 'application/javascript; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

/**
 * A held request answered once with `{"messages":[…],"cursor":"…"}`: long-poll (held until a
 * message or the deadline), interval poll (answered at once) and JSONP (the same answer wrapped
 * as `/**∕NAME(…);`). After answering it detaches; the client polls again with the cursor.
 */
export class PollSubscriber extends Subscriber {
  readonly streaming = false;
  readonly transport: TransportName;
  readonly res: ServerResponse;
  /** JSONP callback name (validated), or undefined for JSON. */
  readonly callback: string | undefined;
  /** Answer at `begin` even with nothing (interval poll). */
  readonly immediate: boolean;
  /** Extra response headers (CORS), set by the router. */
  readonly headers: Record<string, string>;

  constructor(
    hub: HubCore,
    channels: string[],
    res: ServerResponse,
    opts: {
      transport: TransportName;
      callback?: string;
      immediate: boolean;
      timeoutMs: number;
      headers: Record<string, string>;
    },
  ) {
    super(hub, channels);
    this.res = res;
    this.transport = opts.transport;
    this.callback = opts.callback;
    this.immediate = opts.immediate;
    this.headers = opts.headers;
    this.deadline = opts.immediate ? 0 : Date.now() + opts.timeoutMs;
  }

  begin(batch: Frame[]): void {
    if (batch.length > 0 || this.immediate) this.answer(batch);
  }

  more(): void {
    // Polls answer one page; the next poll continues from the cursor.
  }

  send(frame: Frame): void {
    if (this.callback === undefined && frame.id !== null) this.respond(frame.poll, false);
    else this.answer([frame]);
  }

  /** Deadline reached: answer with no messages and the current cursor. */
  tick(): void {
    this.answer([]);
  }

  end(): void {
    this.answer([]);
  }

  answer(frames: readonly Frame[]): void {
    this.respond(pollBody(frames, this.cursor), this.callback !== undefined);
  }

  respond(body: Buffer | string, script: boolean): void {
    if (this.closed) return;
    this.detach();
    const res = this.res;
    if (res.destroyed || res.headersSent) return;
    const payload = script ? `/**/${this.callback}(${body as string});` : body;
    res.writeHead(200, {
      ...this.headers,
      ...(script ? JS_HEADERS : JSON_HEADERS),
      'Content-Length': String(Buffer.byteLength(payload)),
    });
    res.end(payload);
  }

  readonly onClose = (): void => {
    this.detach();
  };
}
