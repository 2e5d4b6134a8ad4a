// Shared by long-poll and JSONP: one answer `{messages,cursor}` per request, then the next request
// from the answer's cursor (and, with `presence`, from its `pcursor`, sent back as `psince`, so
// joins and leaves between two requests are not lost). The first request uses `mode=poll`
// (answered at once), so a working transport is known at once instead of after a long hold.
import type { Connect, Frame, Sink, UrlFor } from './types.js';

/** Fetches one poll answer. */
export type Get = (
  url: string,
  signal: AbortSignal,
) => Promise<{ messages: Frame[]; cursor: string; pcursor?: string }>;

export const poll =
  (get: Get): Connect =>
  (url: UrlFor, s: Sink) => {
    const ac = new AbortController();
    (async () => {
      for (let q = 'mode=poll'; ; q = 'timeout=25') {
        const a = await get(url(q), ac.signal);
        for (const m of a.messages) s.f(m);
        s.f({ cursor: a.cursor, pcursor: a.pcursor });
      }
    })().catch(s.x);
    return () => ac.abort();
  };
