import type { Duplex } from 'node:stream';
import type { Subscriber } from '../subscriber.js';

/**
 * How long a replay waits for a peer to read the page it was sent before it is dropped as a slow
 * consumer: a peer that never reads holds a page of memory (and the live messages waiting behind
 * the replay) for at most this long.
 */
export const REPLAY_DRAIN_MS = 30_000;

/**
 * Resolves once `socket` has written out what was queued on it (its 'drain'), or it closed, or
 * REPLAY_DRAIN_MS passed (then `sub` ends as a slow consumer); undefined when nothing waits above
 * the socket's high-water mark. One timer per replay page, not per message.
 */
export function waitDrain(socket: Duplex, sub: Subscriber): Promise<void> | undefined {
  if (!socket.writableNeedDrain || socket.destroyed) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(() => {
      const stats = sub.hub.stats;
      stats.slowConsumerDrops++;
      stats.slowConsumerBytes += socket.writableLength;
      sub.end('slow-consumer');
      done();
    }, REPLAY_DRAIN_MS);
    socket.on('drain', done);
    socket.on('close', done);
  });
}
