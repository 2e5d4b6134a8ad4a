import { parseArgs } from 'node:util';
import { hubError, reachError } from './net.js';

export const PUBLISH_USAGE = `cometa publish URL CHANNEL DATA [--event NAME] [--text] [--key KEY]

  Publishes DATA (JSON, or a string with --text) on CHANNEL of the hub at URL; prints the id.
  --key sends it with an Idempotency-Key: running the command again with the same key prints the
  first publish's id and stores nothing (within the hub's idempotency window).`;

/** `cometa publish`: one POST /pub/{channel}. */
export async function publish(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      event: { type: 'string' },
      text: { type: 'boolean' },
      key: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help || positionals.length !== 3) {
    console.log(PUBLISH_USAGE);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const [base, channel, data] = positionals as [string, string, string];
  const url = new URL(`pub/${encodeURIComponent(channel)}`, base.endsWith('/') ? base : `${base}/`);
  if (values.event) url.searchParams.set('event', values.event);
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': values.text ? 'text/plain; charset=utf-8' : 'application/json',
      ...(values.key === undefined ? {} : { 'Idempotency-Key': values.key }),
    },
    body: data,
  }).catch((err: unknown) => {
    throw reachError(url, err);
  });
  const body = await res.text();
  if (!res.ok) {
    const e = hubError(body);
    throw new Error(`publish refused: ${res.status} ${e ? `${e.code}: ${e.message}` : body}`);
  }
  console.log((JSON.parse(body) as { id: string }).id);
}
