// Server-Sent Events: EventSource in browsers, a fetch stream and the shared parser elsewhere.
// `uniform=1` makes every envelope event `message`: the client cannot know every event name.
import { SseParser } from '../../protocol/framing.js';
import { fetchStream } from './fetch-stream.js';
import type { Connect } from './types.js';

export const sse: Connect = (url, s) => {
  const u = url('uniform=1');
  if (typeof EventSource === 'function') {
    const es = new EventSource(u);
    es.onmessage = (e) => s.f(JSON.parse(e.data));
    // EventSource would reconnect by itself; the subscription does it (backoff, fallback, cursor).
    es.onerror = s.x;
    return () => es.close();
  }
  return fetchStream(u, { accept: 'text/event-stream' }, new SseParser((e) => s.f(JSON.parse(e.data))), s);
};
