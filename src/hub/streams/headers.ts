import type { IncomingMessage } from 'node:http';
import { HubError } from '../http/respond.js';
import type { CreateRequest, Producer } from './engine.js';
import { isOffset } from './offset.js';

/** Request headers of the protocol (PROTOCOL.md 13.2), as a browser must be allowed to send them. */
export const REQUEST_HEADERS = [
  'Content-Type',
  'Authorization',
  'If-None-Match',
  'Stream-Seq',
  'Stream-TTL',
  'Stream-Expires-At',
  'Stream-Closed',
  'Producer-Id',
  'Producer-Epoch',
  'Producer-Seq',
  'Stream-Forked-From',
  'Stream-Fork-Offset',
  'Stream-Fork-Sub-Offset',
];

/** Response headers a page on another origin must be able to read. */
export const RESPONSE_HEADERS = [
  'Stream-Next-Offset',
  'Stream-Cursor',
  'Stream-Up-To-Date',
  'Stream-Closed',
  'Stream-TTL',
  'Stream-Expires-At',
  'Stream-SSE-Data-Encoding',
  'Producer-Epoch',
  'Producer-Seq',
  'Producer-Expected-Seq',
  'Producer-Received-Seq',
  'ETag',
  'Location',
  'Retry-After',
];

const TTL_RE = /^(?:0|[1-9]\d{0,11})$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const INT_RE = /^\d{1,16}$/;
/** A media type `type/subtype` (parameters allowed after `;`). */
const MEDIA_TYPE_RE = /^[\w!#$&^.+-]+\/[\w!#$&^.+-]+\s*(?:;.*)?$/;

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `Stream-Closed` counts only when it is `true` in any case (PROTOCOL.md 4.1). */
export function closedHeader(req: IncomingMessage): boolean {
  return header(req, 'stream-closed')?.toLowerCase() === 'true';
}

/** A usable Content-Type, or undefined when absent, empty or not a media type. */
export function contentTypeOf(req: IncomingMessage): string | undefined {
  const v = header(req, 'content-type')?.trim();
  return v !== undefined && MEDIA_TYPE_RE.test(v) ? v : undefined;
}

/** The creation headers of a PUT, validated (400 on any malformed one). */
export function parseCreate(
  req: IncomingMessage,
  body: Buffer,
  sourcePath: (raw: string) => string | undefined,
): CreateRequest {
  const ttl = header(req, 'stream-ttl');
  const expires = header(req, 'stream-expires-at');
  if (ttl !== undefined && expires !== undefined) {
    throw new HubError('ERR_BAD_PARAM', 'send Stream-TTL or Stream-Expires-At, not both');
  }
  if (ttl !== undefined && !TTL_RE.test(ttl)) {
    throw new HubError(
      'ERR_BAD_PARAM',
      'Stream-TTL must be a whole number of seconds (no sign, no leading zero)',
    );
  }
  if (expires !== undefined && (!RFC3339_RE.test(expires) || Number.isNaN(Date.parse(expires)))) {
    throw new HubError('ERR_BAD_PARAM', 'Stream-Expires-At must be an RFC 3339 timestamp');
  }
  const forkedRaw = header(req, 'stream-forked-from');
  const forkOffset = header(req, 'stream-fork-offset');
  const sub = header(req, 'stream-fork-sub-offset');
  let forkedFrom: string | undefined;
  if (forkedRaw !== undefined) {
    forkedFrom = sourcePath(forkedRaw);
    if (forkedFrom === undefined)
      throw new HubError('ERR_STREAM_NOT_FOUND', 'Stream-Forked-From names no stream here');
  } else if (forkOffset !== undefined || sub !== undefined) {
    throw new HubError(
      'ERR_BAD_PARAM',
      'Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From',
    );
  }
  if (forkOffset !== undefined && !isOffset(forkOffset)) {
    throw new HubError('ERR_BAD_OFFSET', 'Stream-Fork-Offset is not an offset of this server');
  }
  if (sub !== undefined && !TTL_RE.test(sub)) {
    throw new HubError('ERR_BAD_PARAM', 'Stream-Fork-Sub-Offset must be a non-negative integer');
  }
  const type = contentTypeOf(req);
  return {
    contentType: type ?? (forkedFrom === undefined ? 'application/octet-stream' : undefined),
    ttlSeconds: ttl === undefined ? undefined : Number(ttl),
    expiresAt: expires,
    closed: closedHeader(req),
    body,
    forkedFrom,
    forkOffset,
    forkSubOffset: sub === undefined ? undefined : Number(sub),
  };
}

/** The idempotent producer headers: all three or none (400 otherwise). */
export function parseProducer(req: IncomingMessage): Producer | undefined {
  const id = header(req, 'producer-id');
  const epoch = header(req, 'producer-epoch');
  const seq = header(req, 'producer-seq');
  if (id === undefined && epoch === undefined && seq === undefined) return undefined;
  if (id === undefined || epoch === undefined || seq === undefined) {
    throw new HubError('ERR_BAD_PARAM', 'Producer-Id, Producer-Epoch and Producer-Seq go together');
  }
  if (id === '' || id.length > 256)
    throw new HubError('ERR_BAD_PARAM', 'Producer-Id must be 1 to 256 characters');
  if (!INT_RE.test(epoch) || !Number.isSafeInteger(Number(epoch))) {
    throw new HubError('ERR_BAD_PARAM', 'Producer-Epoch must be an integer from 0 to 2^53-1');
  }
  if (!INT_RE.test(seq) || !Number.isSafeInteger(Number(seq))) {
    throw new HubError('ERR_BAD_PARAM', 'Producer-Seq must be an integer from 0 to 2^53-1');
  }
  return { id, epoch: Number(epoch), seq: Number(seq) };
}
