// readStream(): one read of a Durable Stream (docs/durable-streams.md) from an offset: catch-up,
// or `live: 'long-poll'` to wait for what comes next. Built on the build's own get() (XHR in the
// browser build, fetch where there is none in the universal one: durable-any.ts).
import { get } from './api-xhr.js';
import type { Instance } from './request.js';

/**
 * One read: the stream's data after the offset, and where the next read starts. (Whether it
 * reached the tail is the `Stream-Up-To-Date` header; a long-poll read waits there anyway.)
 */
export interface StreamRead<T = unknown> {
  /** JSON streams: the messages (an array); other types: the body as `responseType` decodes it. */
  data: T;
  /** `Stream-Next-Offset`: pass it to the next readStream() (and keep it to resume after a reload). */
  offset: string;
  /** The stream is closed and this read reached its end: nothing more will come. */
  closed: boolean;
}

export type ReadStream = <T = unknown[]>(
  url: string,
  offset: string,
  live?: 'long-poll',
) => Promise<StreamRead<T>>;

/** readStream() over a given get(). */
export const readStreamVia =
  (via: Instance['get']): ReadStream =>
  (url, offset, live) =>
    via(url, { query: { offset, live } }).then(({ data, headers: h }) => ({
      data: data as never,
      offset: h.get('stream-next-offset')!,
      closed: h.has('stream-closed'),
    }));

/**
 * Reads a Durable Stream from `offset` (`-1`: the start, `now`: the tail).
 * @example
 * let at = localStorage.at ?? '-1';
 * for (let r; !r?.closed; at = r.offset) {
 *   r = await readStream('/v1/stream/answer/42', at, 'long-poll');
 *   for (const token of r.data ?? []) show(token);
 *   localStorage.at = r.offset;
 * }
 */
export const readStream: ReadStream = /* @__PURE__ */ readStreamVia(get);
