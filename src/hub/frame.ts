import * as wsModule from 'ws';
import { formatCursor } from '../protocol/cursor.js';
import type { Envelope } from '../protocol/envelope.js';
import type { StoredMessage } from './stores/store.js';

/**
 * One envelope, serialized once, with its per-transport encodings built lazily on first use and
 * then shared by every subscriber of that transport. Fan-out of one message to N subscribers
 * costs one JSON.stringify and at most one Buffer per transport, not N.
 */
export class Frame {
  /** Global seq of the message; 0 for hub events (gap, deleted), which never move a cursor. */
  readonly seq: number;
  readonly channel: string;
  readonly event: string;
  /** The message id (= the cursor after it), or null for hub events. */
  readonly id: string | null;
  /** The envelope as JSON text. */
  readonly json: string;
  /** A presence event (`join`, `leave`): delivered only to subscribers who asked for them. */
  presence = false;
  /** A presence event's position in the hub's presence log (presence-log.ts); 0 when not logged. */
  pos = 0;
  #sse: Buffer | undefined;
  #sseUniform: Buffer | undefined;
  #chunk: Buffer | undefined;
  #poll: Buffer | undefined;
  #text: Buffer | undefined;
  #ws: Buffer | undefined;

  constructor(seq: number, id: string | null, channel: string, event: string, json: string) {
    this.seq = seq;
    this.id = id;
    this.channel = channel;
    this.event = event;
    this.json = json;
  }

  /** A stored message, as an envelope of the given epoch. */
  static message(m: StoredMessage, epoch: string): Frame {
    const id = formatCursor(epoch, m.seq);
    if (m.json !== undefined) {
      // The same text JSON.stringify gives for the envelope below, around the stored JSON data.
      const json = `{"id":${JSON.stringify(id)},"channel":${JSON.stringify(m.channel)},"event":${JSON.stringify(m.event)},"data":${m.json},"time":${JSON.stringify(m.time)}}`;
      return new Frame(m.seq, id, m.channel, m.event, json);
    }
    const env: Envelope = { id, channel: m.channel, event: m.event, data: m.data, time: m.time };
    return new Frame(m.seq, id, m.channel, m.event, JSON.stringify(env));
  }

  /** A hub event (`gap`, `deleted`) on a channel. */
  static hubEvent(channel: string, event: string, data: unknown, time = Date.now()): Frame {
    const env: Envelope = { id: null, channel, event, data, time };
    return new Frame(0, null, channel, event, JSON.stringify(env));
  }

  /** A presence event (`join` or `leave`) on a channel; `data` is the member. */
  static presenceEvent(channel: string, event: 'join' | 'leave', data: unknown, time: number): Frame {
    const f = Frame.hubEvent(channel, event, data, time);
    f.presence = true;
    return f;
  }

  /** SSE frame with `event:` set to the envelope's event name. */
  get sse(): Buffer {
    if (this.#sse === undefined) this.#sse = Buffer.from(sseText(this.id, this.event, this.json));
    return this.#sse;
  }

  /** SSE frame whose `event:` is always `message` (for clients that can't know every event name). */
  get sseUniform(): Buffer {
    if (this.#sseUniform === undefined)
      this.#sseUniform = Buffer.from(sseText(this.id, 'message', this.json));
    return this.#sseUniform;
  }

  /** One NDJSON line, already framed as an HTTP/1.1 chunk. */
  get chunk(): Buffer {
    if (this.#chunk === undefined) this.#chunk = chunked(`${this.json}\n`);
    return this.#chunk;
  }

  /** The JSON envelope as bytes (WebSocket text frames). */
  get text(): Buffer {
    if (this.#text === undefined) this.#text = Buffer.from(this.json);
    return this.#text;
  }

  /**
   * The envelope as one complete WebSocket text frame (header + payload). Server frames are never
   * masked, so these bytes are the same for every socket: fan-out writes them to each socket as
   * they are, instead of framing the message again per socket in `ws.send()`.
   */
  get ws(): Buffer {
    if (this.#ws === undefined) {
      const parts = Sender.frame(this.text, WS_TEXT_FRAME);
      this.#ws = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    }
    return this.#ws;
  }

  /** A long-poll answer carrying only this message: `{"messages":[…],"cursor":"…"}`. */
  get poll(): Buffer {
    if (this.#poll === undefined) {
      if (this.id === null) throw new Error('a hub event alone is never a poll answer');
      this.#poll = Buffer.from(`{"messages":[${this.json}],"cursor":"${this.id}"}`);
    }
    return this.#poll;
  }
}

/**
 * Consecutive messages of one channel that fan-out delivers together (they were published in the
 * same event-loop turn): each transport's bytes are the frames' bytes back to back, concatenated
 * once and shared, so a live subscriber gets the whole run in one socket write.
 */
export class FrameRun {
  /** Two or more message frames (seq > 0) of one channel, in seq order. */
  readonly frames: readonly Frame[];
  /** Joined bytes per encoding, built on first use. */
  readonly #joined = new Map<RunEncoding, Buffer>();

  constructor(frames: readonly Frame[]) {
    this.frames = frames;
  }

  get sse(): Buffer {
    return this.#join('sse');
  }

  get sseUniform(): Buffer {
    return this.#join('sseUniform');
  }

  get chunk(): Buffer {
    return this.#join('chunk');
  }

  get ws(): Buffer {
    return this.#join('ws');
  }

  #join(encoding: RunEncoding): Buffer {
    let bytes = this.#joined.get(encoding);
    if (bytes === undefined) {
      bytes = Buffer.concat(this.frames.map((f) => f[encoding]));
      this.#joined.set(encoding, bytes);
    }
    return bytes;
  }
}

/** The Frame encodings a run joins (those of the byte-stream transports). */
type RunEncoding = 'sse' | 'sseUniform' | 'chunk' | 'ws';

/** `Sender.frame` options of one unmasked, uncompressed, final text frame. */
const WS_TEXT_FRAME = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false } as const;

/**
 * `ws` frames data with its public static `Sender.frame()` (made public for broadcasts, ws#1016),
 * which @types/ws does not declare.
 */
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: typeof WS_TEXT_FRAME): Buffer[] };
};

/** SSE text of one event. JSON never contains raw newlines, so `data:` is one line. */
export function sseText(id: string | null, event: string, json: string): string {
  return `${id === null ? '' : `id: ${id}\n`}event: ${event}\ndata: ${json}\n\n`;
}

/** Frames bytes as one HTTP/1.1 chunk. */
export function chunked(text: string): Buffer {
  const body = Buffer.from(text);
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n')]);
}

/**
 * Builds a poll answer from several frames (replays, batches); `pcursor`, for a poll that asked
 * for join/leave envelopes, is where its next request catches up from (`?psince=`).
 */
export function pollBody(frames: readonly Frame[], cursor: string, pcursor?: string): string {
  let s = '{"messages":[';
  for (let i = 0; i < frames.length; i++) s += (i === 0 ? '' : ',') + frames[i]!.json;
  return pcursor === undefined
    ? `${s}],"cursor":"${cursor}"}`
    : `${s}],"cursor":"${cursor}","pcursor":"${pcursor}"}`;
}
