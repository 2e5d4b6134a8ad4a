import type { ServerResponse } from 'node:http';
import type { HubCore } from '../core.js';
import { type Frame, pollBody } from '../frame.js';
import { bodyHeaders } from '../http/respond.js';
import { jsonpScript } from '../http/script.js';
import { Subscriber } from '../subscriber.js';
import type { TransportName } from './transport.js';

export const JSON_TYPE = 'application/json; charset=utf-8';
const JS_TYPE = 'application/javascript; charset=utf-8';

/** Where a held poll's response keeps its subscriber, for the one shared 'close' listener. */
const SUBSCRIBER = Symbol('cometa.pollSubscriber');
type PollResponse = ServerResponse & { [SUBSCRIBER]?: PollSubscriber };

/**
 * The 'close' listener of every held poll: one function for all of them, where a listener per
 * subscriber would be a closure allocated per request (a poll is one request per message).
 */
function onResponseClose(this: PollResponse): void {
  this[SUBSCRIBER]?.detach();
}

/**
 * A held request answered once with `{"messages":[…],"cursor":"…"}`: long-poll (held until a
 * message or the deadline), interval poll (answered at once) and JSONP (the same answer wrapped
 * as `/**∕NAME(…);`). After answering it detaches; the client polls again with the cursor.
 *
 * How the answer reaches the peer is the subclass's: through Node's ServerResponse
 * ({@link ResponsePollSubscriber}), or as raw bytes on a connection the fast lane holds
 * (http/fast-poll.ts).
 */
export abstract class PollSubscriber extends Subscriber {
  readonly streaming = false;
  readonly transport: TransportName;
  /** JSONP callback name (validated), or undefined for JSON. */
  readonly callback: string | undefined;
  /** Answer at `begin` even with nothing (interval poll). */
  readonly immediate: boolean;
  /** Extra response headers (CORS), set by the router. */
  readonly headers: Record<string, string>;

  constructor(
    hub: HubCore,
    channels: string[],
    transport: TransportName,
    timeoutMs: number,
    headers: Record<string, string>,
    immediate: boolean,
    callback?: string,
  ) {
    super(hub, channels);
    this.transport = transport;
    this.callback = callback;
    this.immediate = immediate;
    this.headers = headers;
    this.deadline = immediate ? 0 : Date.now() + timeoutMs;
  }

  /** Writes the 200 answer (`type`, `payload`, this subscriber's headers) if the peer is still there. */
  protected abstract write(type: string, payload: Buffer | string): void;
  /** Bytes written on this poll's connection that the peer has not read yet (earlier answers). */
  protected abstract unsent(): number;
  /** Closes the connection at once (a peer that does not read its answers). */
  protected abstract drop(): void;

  /**
   * With `?presence=1`, where the next poll catches up with joins and leaves from (answered as
   * `pcursor`, sent back as `?psince=`): such answers are built per poll, never shared.
   */
  get pcursor(): string | undefined {
    return this.presence?.events === true ? this.hub.presenceLog.format(this.presencePos) : undefined;
  }

  begin(batch: Frame[]): void {
    const only = batch.length === 1 ? batch[0]! : undefined;
    // One message waiting and the cursor right after it: the answer's bytes are shared too.
    if (
      only !== undefined &&
      only.id !== null &&
      only.seq === this.lastSeq &&
      this.presence?.events !== true
    ) {
      this.respond(only.poll, this.callback !== undefined);
    } else if (batch.length > 0 || this.immediate) this.answer(batch);
  }

  more(): void {
    // Polls answer one page; the next poll continues from the cursor.
  }

  send(frame: Frame): void {
    if (this.#queued !== undefined) {
      this.#queued.push(frame);
      return;
    }
    // The hot path: one message answers the poll with the bytes shared by every long-poller
    // (wrapped in the callback for JSONP).
    if (frame.id !== null) {
      if (this.presence?.events === true) this.answer([frame]);
      else this.respond(frame.poll, this.callback !== undefined);
      return;
    }
    // Hub events come in bursts (a gap per channel when the store loses its history) and exist
    // only in memory: gather this turn's frames and answer once, or all but the first are lost.
    this.#queued = [frame];
    queueMicrotask(() => this.answer(this.#take()));
  }

  /** Deadline reached: answer with what is queued (usually nothing) and the current cursor. */
  tick(): void {
    this.answer(this.#take());
  }

  end(): void {
    this.answer(this.#take());
  }

  /** Frames gathered in the current turn, if any. */
  #queued: Frame[] | undefined;

  #take(): Frame[] {
    const q = this.#queued ?? [];
    this.#queued = undefined;
    return q;
  }

  answer(frames: readonly Frame[]): void {
    this.respond(pollBody(frames, this.cursor, this.pcursor), this.callback !== undefined);
  }

  respond(body: Buffer | string, script: boolean): void {
    if (this.closed) return;
    this.detach();
    // Answers are counted like streams' bytes: a peer that asks again (pipelined, or in the lane)
    // without reading what it was answered is dropped, so unread answers stay bounded.
    const unsent = this.unsent();
    if (unsent > this.hub.options.limits.maxBufferedBytes) {
      this.hub.stats.slowConsumerDrops++;
      this.hub.stats.slowConsumerBytes += unsent;
      this.drop();
      return;
    }
    if (script) this.write(JS_TYPE, jsonpScript(this.callback!, body.toString()));
    else this.write(JSON_TYPE, body);
  }
}

/** A poll answered through Node's ServerResponse (the regular path, and a hub mounted in an app). */
export class ResponsePollSubscriber extends PollSubscriber {
  readonly res: ServerResponse;

  constructor(
    hub: HubCore,
    channels: string[],
    res: ServerResponse,
    transport: TransportName,
    timeoutMs: number,
    headers: Record<string, string>,
    immediate: boolean,
    callback?: string,
  ) {
    super(hub, channels, transport, timeoutMs, headers, immediate, callback);
    this.res = res;
    (res as PollResponse)[SUBSCRIBER] = this;
    res.on('close', onResponseClose);
  }

  protected unsent(): number {
    return this.res.socket?.writableLength ?? 0;
  }

  protected drop(): void {
    this.res.socket?.destroy();
  }

  protected write(type: string, payload: Buffer | string): void {
    const res = this.res;
    if (res.destroyed || res.headersSent) return;
    res.writeHead(200, bodyHeaders(this.headers, type, Buffer.byteLength(payload)));
    res.end(payload);
  }
}
