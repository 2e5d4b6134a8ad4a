// Server-Sent Events with the browser's EventSource; without one (a service worker) it fails at
// once and the subscription falls back. sse-fetch.ts adds a fetch stream for Node and the like.
// `uniform=1` makes every envelope event `message`: the client cannot know every event name.
import type { Connect } from './types.js';

export const sse: Connect = (url, s) => {
  if (typeof EventSource !== 'function') {
    setTimeout(s.x);
    return () => {};
  }
  const es = new EventSource(url('uniform=1'));
  es.onmessage = (e) => s.f(JSON.parse(e.data));
  // EventSource would reconnect by itself; the subscription does it (backoff, fallback, cursor).
  es.onerror = s.x;
  return () => es.close();
};
