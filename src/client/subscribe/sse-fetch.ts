// SSE for the universal build: EventSource where there is one, else a fetch stream read with the
// shared SseParser (Node, Deno, Bun, service workers).
import { SseParser } from '../../protocol/framing.js';
import { fetchStream } from './fetch-stream.js';
import { sse } from './sse.js';
import type { Connect } from './types.js';

export const sseFetch: Connect = (url, s, o) =>
  typeof EventSource === 'function'
    ? sse(url, s, o)
    : fetchStream(
        url('uniform=1'),
        { accept: 'text/event-stream' },
        new SseParser((e) => s.f(JSON.parse(e.data))),
        s,
      );
