import { HubError } from '../http/respond.js';

/**
 * JSON mode (PROTOCOL.md 9.1): an append's body is one JSON value, or an array whose elements are
 * each one message (exactly one level flattened). Each message is kept as its own record, in its
 * compact JSON text, so a read can join any range of them into one array without parsing again.
 */
export function splitJson(body: Buffer, creating: boolean): Buffer[] {
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
