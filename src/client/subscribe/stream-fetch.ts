// NDJSON streaming for the universal build: XMLHttpRequest where there is one, else the same
// stream read with fetch (Node, Deno, Bun, service workers).
import { NdjsonParser } from '../../protocol/framing.js';
import { fetchStream } from './fetch-stream.js';
import { stream } from './stream.js';
import type { Connect } from './types.js';

export const streamFetch: Connect = (url, s, o) =>
  typeof XMLHttpRequest === 'function'
    ? stream(url, s, o)
    : fetchStream(url('transport=stream'), {}, new NdjsonParser(s.f as (v: unknown) => void), s);
