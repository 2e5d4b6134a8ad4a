// JSONP long-poll: script tags, so it needs no CORS at all (browsers only; elsewhere it fails at
// once and the subscription falls back).
import { jsonp as loadScript } from '../jsonp.js';
import { poll } from './poll.js';

export const jsonp = poll((u, signal) => loadScript(u, { signal, timeout: 35_000 }));
