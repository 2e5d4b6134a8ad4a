// Long-poll with fetch: works everywhere, through every proxy; the transport of last resort.
import { poll } from './poll.js';

export const longpoll = poll(async (u, signal) => {
  const r = await fetch(u, { signal, cache: 'no-store' });
  if (!r.ok) throw 0;
  return r.json();
});
