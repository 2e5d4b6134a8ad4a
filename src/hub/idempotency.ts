import { createHash } from 'node:crypto';
import { formatCursor } from '../protocol/cursor.js';
import type { HubCore } from './core.js';
import { HubError } from './http/respond.js';
import type { ResolvedOptions } from './options.js';
import type { IdempotencyKey } from './stores/store.js';

/**
 * Idempotent publish: a publish that carries a key (`Idempotency-Key` header, a WebSocket publish
 * frame's `key`, `hub.publish(..., { key })`) is stored once per key within
 * `options.idempotency.windowMs`; a retry with the same key answers the first publish's id.
 * Keys are scoped by channel (in the store) and by credential (here: the token's subject, or
 * nothing for anonymous publishers), so two users choosing the same key never see each other's id.
 */

/** Keys are 1-255 visible ASCII characters (UUIDs, ULIDs, hashes...). */
const KEY_RE = /^[\x21-\x7e]{1,255}$/;

/**
 * Reads a key as a header or frame field gives it: a plain token, or a Structured Field string
 * (`"…"`, the form of the IETF Idempotency-Key draft). Undefined when absent; 400 when malformed.
 */
export function parseIdempotencyKey(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') {
    const key = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    if (KEY_RE.test(key) && !key.includes('"')) return key;
  }
  throw new HubError(
    'ERR_BAD_IDEMPOTENCY_KEY',
    'an idempotency key is one value of 1 to 255 visible ASCII characters (no quotes inside)',
  );
}

/** The key as a store keeps it: scoped by `scope` (the credential), with the publish's fingerprint. */
export function storeKey(
  options: ResolvedOptions,
  key: string,
  scope: string,
  event: string,
  data: unknown,
): IdempotencyKey {
  const fingerprint = createHash('sha256')
    .update(`${event}\n${data === undefined ? '' : JSON.stringify(data)}`)
    .digest('base64url')
    .slice(0, 22);
  return {
    // Length-prefixed: no scope and key pair can spell another pair.
    key: `${scope.length}:${scope}${key}`,
    fingerprint,
    windowMs: options.idempotency.windowMs,
    maxKeys: options.idempotency.maxKeysPerChannel,
  };
}

/**
 * Stores a publish under its key (every way of publishing with a key ends here): the id of the
 * message stored under the key, and whether it was stored before. Channel and event are checked.
 */
export async function publishOnce(
  core: HubCore,
  channel: string,
  event: string,
  data: unknown,
  key: string,
  scope: string,
): Promise<{ id: string; duplicate: boolean }> {
  const store = core.store;
  if (store.appendOnce === undefined)
    throw new HubError('ERR_NOT_IMPLEMENTED', `the ${store.kind} store does not keep idempotency keys`);
  const r = await store.appendOnce(
    channel,
    event,
    data,
    Date.now(),
    storeKey(core.options, key, scope, event, data),
  );
  if (r.mismatch)
    throw new HubError(
      'ERR_IDEMPOTENCY_MISMATCH',
      'this idempotency key was used for another publish on this channel; use a new key',
    );
  if (r.duplicate) core.stats.duplicates++;
  else core.stats.published++;
  return { id: formatCursor(store.epoch, r.seq), duplicate: r.duplicate };
}
