// XHR streaming (the chapter's technique): NDJSON read from responseText at readyState 3 as it
// grows. The hub ends the stream after streamMaxBytes (`close` reason `recycle`), so responseText
// never grows without bound. Without XMLHttpRequest it fails at once (the subscription falls
// back); stream-fetch.ts reads the same stream with fetch for Node and the like.
import { NdjsonParser } from '../../protocol/framing.js';
import type { Connect } from './types.js';

export const stream: Connect = (url, s) => {
  if (typeof XMLHttpRequest !== 'function') {
    setTimeout(s.x);
    return () => {};
  }
  const parser = new NdjsonParser(s.f as (v: unknown) => void);
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
  x.open('GET', url('transport=stream'));
  x.send();
  return () => {
    x.onreadystatechange = null;
    x.abort();
  };
};
