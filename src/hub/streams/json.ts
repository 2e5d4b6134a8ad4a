import { checkJsonDepth } from '../http/body-bounds.js';
import { HubError } from '../http/respond.js';

/** What one JSON-mode body may hold. */
export interface JsonBounds {
  /** Messages in one array body (`streams.maxAppendMessages`): each is a record with its own overhead. */
  maxMessages: number;
  /** Nesting of arrays and objects (`limits.maxJsonDepth`), as for every publish. */
  maxDepth: number;
}

/**
 * JSON mode (PROTOCOL.md 9.1): an append's body is one JSON value, or an array whose elements are
 * each one message (exactly one level flattened). Each message is kept as its own record, in its
 * compact JSON text, so a read can join any range of them into one array without parsing again.
 * The depth is checked on the raw bytes before parsing: a value nested deeper than the hub's bound
 * parses, but overflows the stack of the `JSON.stringify` that stores it.
 */
export function splitJson(body: Buffer, creating: boolean, bounds: JsonBounds): Buffer[] {
  checkJsonDepth(body, bounds.maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HubError('ERR_BAD_BODY', 'the body of a JSON stream must be valid JSON');
  }
  if (!Array.isArray(value)) return [Buffer.from(JSON.stringify(value))];
  if (value.length === 0 && !creating) {
    throw new HubError('ERR_BAD_BODY', 'an empty JSON array appends nothing; send at least one message');
  }
  if (value.length > bounds.maxMessages) {
    throw new HubError(
      'ERR_TOO_MANY_MESSAGES',
      `one append holds at most ${bounds.maxMessages} messages (streams.maxAppendMessages); nothing was stored`,
    );
  }
  return value.map((v) => Buffer.from(JSON.stringify(v === undefined ? null : v)));
}

/** Messages as one JSON array (`[]` when none). */
export function joinJson(messages: readonly Buffer[]): Buffer {
  if (messages.length === 0) return Buffer.from('[]');
  const parts: Buffer[] = [Buffer.from('[')];
  for (let i = 0; i < messages.length; i++) {
    if (i > 0) parts.push(COMMA);
    parts.push(messages[i]!);
  }
  parts.push(CLOSE);
  return Buffer.concat(parts);
}

const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');
