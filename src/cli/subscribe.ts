import { parseArgs } from 'node:util';
import { NdjsonParser, SseParser } from '../protocol/framing.js';
import { hubError, reachError } from './net.js';

/** A refusal that retrying cannot change (a bad channel or cursor, 401, 403): the command stops. */
class Refused extends Error {}

/** 4xx answers other than 408 and 429 are permanent: the same request gets the same answer. */
function isPermanent(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export const SUBSCRIBE_USAGE = `cometa subscribe URL CHANNEL[,CHANNEL...] [--transport sse|stream|longpoll] [--since CURSOR] [--last N]

  Prints every envelope as one JSON line (NDJSON), resuming from its cursor when the connection drops.
  Stops with exit code 1 when the hub refuses the subscription (bad channel or cursor, 401, 403).`;

/** `cometa subscribe`: prints envelopes as NDJSON until interrupted. */
export async function subscribe(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      transport: { type: 'string', default: 'sse' },
      since: { type: 'string' },
      last: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || positionals.length !== 2) {
    console.log(SUBSCRIBE_USAGE);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const transport = values.transport;
  if (transport !== 'sse' && transport !== 'stream' && transport !== 'longpoll') {
    throw new Error('--transport must be sse, stream or longpoll');
  }
  const [base, channels] = positionals as [string, string];
  let cursor = values.since;
  let last = values.last;
  const print = (v: unknown) => {
    const env = v as { id?: unknown; channel?: unknown };
    if (typeof env.channel !== 'string') {
      const c = (v as { cursor?: unknown }).cursor;
      if (typeof c === 'string' && cursor === undefined) cursor = c;
      return;
    }
    if (typeof env.id === 'string') cursor = env.id;
    process.stdout.write(`${JSON.stringify(v)}\n`);
  };
  for (let failures = 0; ; ) {
    const url = new URL(`sub/${channels}`, base.endsWith('/') ? base : `${base}/`);
    if (transport !== 'sse') url.searchParams.set('transport', transport);
    if (cursor !== undefined) url.searchParams.set('since', cursor);
    else if (last !== undefined) url.searchParams.set('last', last);
    last = undefined;
    try {
      const res = await fetch(url, {
        headers: transport === 'sse' ? { Accept: 'text/event-stream' } : {},
      }).catch((err: unknown) => {
        throw reachError(url, err);
      });
      if (!res.ok) {
        const body = await res.text();
        const e = hubError(body);
        const what = `${res.status} ${e ? `${e.code}: ${e.message}` : body.slice(0, 200)}`;
        if (isPermanent(res.status)) throw new Refused(`the hub refused the subscription: ${what}`);
        throw new Error(what);
      }
      if (transport === 'longpoll') {
        const answer = (await res.json()) as { messages: unknown[]; cursor: string };
        for (const m of answer.messages) print(m);
        cursor = answer.cursor;
      } else {
        const parser =
          transport === 'sse' ? new SseParser((e) => print(JSON.parse(e.data))) : new NdjsonParser(print);
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          parser.push(decoder.decode(chunk, { stream: true }));
        }
      }
      failures = 0;
    } catch (err) {
      if (err instanceof Refused) throw err;
      failures++;
      const delay = Math.min(30_000, 500 * 2 ** failures);
      console.error(`cometa subscribe: ${(err as Error).message}; retrying in ${Math.round(delay / 1000)} s`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
