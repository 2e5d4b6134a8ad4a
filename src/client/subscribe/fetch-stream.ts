// Streams read with fetch (Node, or browsers without the classic API the transport prefers).
import type { Sink } from './types.js';

/** Reads `url` as text and pushes it into `parser` until the body ends; then reports the end. */
export function fetchStream(
  url: string,
  headers: Record<string, string>,
  parser: { push(text: string): void },
  s: Sink,
): () => void {
  const ac = new AbortController();
  fetch(url, { headers, signal: ac.signal, cache: 'no-store' })
    .then(async (r) => {
      if (!r.ok || !r.body) throw 0;
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(dec.decode(value, { stream: true }));
      }
    })
    .then(s.x, s.x);
  return () => ac.abort();
}
