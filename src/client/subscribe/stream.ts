// XHR streaming (the chapter's technique): NDJSON read from responseText at readyState 3 as it
// grows. The hub ends the stream after streamMaxBytes (`close` reason `recycle`), so responseText
// never grows without bound. Without XMLHttpRequest (Node) the same stream is read with fetch.
import { NdjsonParser } from '../../protocol/framing.js';
import { fetchStream } from './fetch-stream.js';
import type { Connect } from './types.js';

export const stream: Connect = (url, s) => {
  const u = url('transport=stream');
  const parser = new NdjsonParser(s.f as (v: unknown) => void);
  if (typeof XMLHttpRequest !== 'function') return fetchStream(u, {}, parser, s);
  const x = new XMLHttpRequest();
  let seen = 0;
  x.onreadystatechange = () => {
    if (x.readyState < 3) return;
    if (x.status === 200) {
      const text = x.responseText;
      parser.push(text.slice(seen));
      seen = text.length;
    }
    if (x.readyState === 4) s.x();
  };
  x.open('GET', u);
  x.send();
  return () => {
    x.onreadystatechange = null;
    x.abort();
  };
};
