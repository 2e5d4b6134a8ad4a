import type { CloseReason } from '../protocol/envelope.js';
import type { HubCore } from './core.js';
import type { Frame, FrameRun } from './frame.js';
import type { TransportName } from './transports/transport.js';

/**
 * One subscribed connection (or held long-poll request). The hub core owns the delivery rules,
 * transports only say how bytes reach the peer:
 * - `send(frame)`: write one live frame;
 * - `begin(batch)`: the replay is done; write it (streams) or answer with it (polls);
 * - `end(reason)`: the hub ends the subscription (shutdown, recycle, slow consumer...).
 *
 * Delivery keeps exactly-once per subscriber: a frame is sent only when its seq is beyond
 * `lastSeq`, and while history is being replayed, live frames wait in `pending`.
 */
export abstract class Subscriber {
  abstract readonly transport: TransportName;
  /** True for transports that hold a stream open (heartbeats, paging replays). */
  abstract readonly streaming: boolean;
  readonly hub: HubCore;
  channels: string[];
  /** Seq of the last message this subscriber has been given (the cursor's seq). */
  lastSeq = 0;
  /** Live frames that arrived while the replay was read; null once live. */
  pending: Frame[] | null = [];
  closed = false;
  /** Long-poll deadline (ms since epoch); 0 for streams. Checked by the hub's single sweep timer. */
  deadline = 0;
  /**
   * When the token this subscription was authorized with expires (ms since epoch; 0: never). The
   * sweep ends the subscription with reason `auth` then (WebSocket close code 4001).
   */
  expiresAt = 0;
  /** Its presence (member identity, whether it wants join/leave envelopes); undefined: none. */
  presence: import('./presence.js').SubscriberPresence | undefined = undefined;
  /**
   * Position of the last logged join/leave this subscriber has been given (presence-log.ts): a
   * presence frame at or below it is a duplicate, like a message at or below `lastSeq`.
   */
  presencePos = 0;
  /** A poll's `?psince=` (where it catches up with joins and leaves from); undefined: none. */
  presenceSince: string | undefined = undefined;
  /** Which of the hub's sweeps beats this stream (see HubCore: heartbeats are spread, not bursts). */
  beatSlot = 0;

  constructor(hub: HubCore, channels: string[]) {
    this.hub = hub;
    this.channels = channels;
  }

  /** Called by fan-out for every frame of the subscriber's channels. Hot path: no allocation. */
  deliver(frame: Frame): void {
    if (frame.seq !== 0) {
      if (frame.seq <= this.lastSeq) return;
      if (this.pending !== null) {
        this.#hold(this.pending, frame);
        return;
      }
      this.lastSeq = frame.seq;
    } else {
      if (frame.pos !== 0 && frame.pos <= this.presencePos) return;
      if (this.pending !== null) {
        this.#hold(this.pending, frame);
        return;
      }
      if (frame.pos !== 0) this.presencePos = frame.pos;
    }
    this.send(frame);
  }

  /** Envelope characters waiting in `pending`. */
  #pendingChars = 0;

  /**
   * Keeps a live frame until the replay is written. A stream whose peer does not read its replay
   * waits for it (drain.ts) while live messages pile up here: past `maxBufferedBytes` of them it is
   * dropped as a slow consumer, like a stream whose socket holds that much (it resumes from its
   * cursor).
   */
  #hold(pending: Frame[], frame: Frame): void {
    pending.push(frame);
    this.#pendingChars += frame.json.length;
    if (this.streaming && this.#pendingChars > this.hub.options.limits.maxBufferedBytes) {
      this.hub.stats.slowConsumerDrops++;
      this.hub.stats.slowConsumerBytes += this.#pendingChars;
      this.end('slow-consumer');
    }
  }

  /**
   * Called by fan-out for consecutive messages of one channel published in the same turn. A live
   * subscriber that has none of them yet and whose transport writes bytes (`coalesces`) gets them
   * in one write; otherwise they go one by one through `deliver`.
   */
  deliverRun(run: FrameRun): void {
    const frames = run.frames;
    if (this.coalesces && this.pending === null && frames[0]!.seq > this.lastSeq) {
      this.lastSeq = frames[frames.length - 1]!.seq;
      this.hub.stats.coalesced += frames.length;
      this.sendRun(run);
      return;
    }
    for (const f of frames) this.deliver(f);
  }

  /** Whether `sendRun` can write a run in one go (byte streams); polls answer frame by frame. */
  get coalesces(): boolean {
    return false;
  }

  /** Writes a run of live frames at once (only called when `coalesces`). */
  sendRun(run: FrameRun): void {
    for (const f of run.frames) this.send(f);
  }

  /** The cursor after everything this subscriber has been given. */
  get cursor(): string {
    return `${this.hub.epoch}-${this.lastSeq}`;
  }

  /** Writes one live frame. */
  abstract send(frame: Frame): void;
  /** Writes (or answers with) the replayed frames; called once, before any `send`. */
  abstract begin(batch: Frame[]): void;
  /** Writes more replayed frames (streams paging through a long history). */
  abstract more(batch: Frame[]): void;
  /** The hub ends this subscription. */
  abstract end(reason: CloseReason): void;
  /** Writes a heartbeat (streams) or answers empty (long-poll past its deadline). */
  abstract tick(): void;

  /**
   * Resolves once the peer has read what it was sent, before a replay writes its next page
   * (streams: see drain.ts); undefined when there is nothing to wait for.
   */
  drained(): Promise<void> | undefined {
    return undefined;
  }

  /**
   * Sets TCP_NODELAY on the subscriber's socket (`tcpNoDelay: 'auto'` switching; called only on
   * streaming subscribers). Polls answer and go, so they keep Node's default.
   */
  setNoDelay(_noDelay: boolean): void {}

  /** Unregisters; transports call it when the peer goes away or after they answered. */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.remove(this);
  }
}
