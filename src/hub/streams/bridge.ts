import { isChannelName } from '../../protocol/channel.js';
import type { StreamEngine } from './engine.js';
import { baseType } from './storage.js';

/** Channels that carry Durable Streams start with this. */
export const STREAM_CHANNEL_PREFIX = 'ds.';

/** Event of the message published when a bridged stream is closed: `{ offset, closed: true }`. */
export const STREAM_CLOSED_EVENT = 'ds.closed';

/**
 * The cometa channel of a stream path: `ds.` then the path with `/` as `.` (`chat/42` →
 * `ds.chat.42`); undefined when that is not a valid channel name (segments of `[A-Za-z0-9_~:-]`,
 * at most 200 characters): such a stream is not bridged.
 */
export function channelOfStream(path: string): string | undefined {
  const name = STREAM_CHANNEL_PREFIX + path.split('/').join('.');
  return isChannelName(name) ? name : undefined;
}

export interface BridgeHost {
  publish(channel: string, data: unknown, options?: { event?: string }): Promise<string>;
  drop(channel: string): Promise<void>;
}

/**
 * Makes every JSON-mode stream a cometa channel as well (docs/durable-streams.md): each appended
 * message is published on the stream's channel as `{ offset, data }` (`offset` is the stream offset
 * after the message, where a protocol read resumes), closing the stream publishes
 * `{ offset, closed: true }` with event `ds.closed`, and deleting it drops the channel's history
 * (subscribers get `deleted`). The engine calls this in order per stream, so a channel carries its
 * stream's messages in stream order. Byte-mode streams are not bridged.
 */
export function bridgeToChannels(engine: StreamEngine, host: BridgeHost): void {
  engine.onWrite = async (e) => {
    if (e.kind === 'delete') {
      const channel = channelOfStream(e.path);
      if (channel !== undefined) await host.drop(channel);
      return;
    }
    if (baseType(e.meta.contentType) !== 'application/json') return;
    const channel = channelOfStream(e.meta.path);
    if (channel === undefined) return;
    for (const r of e.records) {
      await host.publish(channel, { offset: r.offset, data: JSON.parse(r.data.toString('utf8')) });
    }
    if (e.closed)
      await host.publish(channel, { offset: e.meta.tail, closed: true }, { event: STREAM_CLOSED_EVENT });
  };
}
