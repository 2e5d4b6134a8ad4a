import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { parsePublishBody } from './body.js';
import { type BodyBounds, checkJsonDepth } from './body-bounds.js';
import { HubError } from './respond.js';

/** What a framework may leave on a request whose body it has already read. */
type ReadRequest = IncomingMessage & { body?: unknown; rawBody?: unknown };

/**
 * The message data of a publish whose body an app's middleware read before the hub (Express's
 * `express.json()`/`urlencoded()`/`text()`/`raw()` mounted before `hub.handler`, or a Fastify
 * route that parsed it): `undefined` when the body is still unread and the hub reads it itself.
 * Without this the hub would wait for body bytes that were already consumed, forever.
 *
 * - A raw body kept by the app (`req.rawBody`, or `req.body` as a Buffer or a string) is parsed
 *   exactly as the hub parses a body it reads (Content-Type, `?format=`).
 * - A JSON value the framework parsed is published as is: JSON.parse gives the same value.
 * - Parsed form fields are published when they are what the hub's own parser gives, names with
 *   string or string-array values; nested objects (qs's `extended` syntax) are refused, since the
 *   hub would have published `a[b]` as a field name.
 * - Anything else is answered at once with `ERR_BODY_CONSUMED`, saying what to change.
 *
 * The same bounds apply as to a body the hub reads: `limits.maxBodyBytes`, `maxJsonDepth` and
 * `maxFields`.
 */
export async function alreadyReadBody(
  request: IncomingMessage,
  contentType: string | undefined,
  format: string | null,
  limits: BodyBounds & { readonly maxBodyBytes: number },
  log?: Logger,
): Promise<{ data: unknown } | undefined> {
  const limit = limits.maxBodyBytes;
  const req = request as ReadRequest;
  // 'end' has been emitted: nobody will ever see these bytes again.
  if (!req.readableEnded) return undefined;
  const raw = rawOf(req.rawBody) ?? rawOf(req.body);
  if (raw !== undefined) {
    if (raw.length > limit) throw tooLarge(limit);
    return { data: await parsePublishBody(raw, contentType, format, limits) };
  }
  const body = req.body;
  if (body !== undefined && body !== null && format === null) {
    const type = mediaType(contentType);
    if (type === 'application/json' || type.endsWith('+json')) {
      // The bounds of a body the hub parses, applied to the value's JSON text (body-bounds.ts).
      checkJsonDepth(Buffer.from(jsonOf(body, limit)), limits.maxJsonDepth);
      return { data: body };
    }
    if ((type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data') && isFields(body)) {
      const fields: Record<string, string | string[]> = Object.create(null);
      let count = 0;
      for (const name of Object.keys(body)) {
        const value = body[name]!;
        fields[name] = value;
        count += Array.isArray(value) ? value.length : 1;
      }
      if (count > limits.maxFields) {
        throw new HubError(
          'ERR_TOO_MANY_FIELDS',
          `the form has more than ${limits.maxFields} fields (limits.maxFields)`,
        );
      }
      jsonOf(fields, limit);
      return { data: { ...fields } };
    }
  }
  // The app's setup is wrong, not the request: say so where its operator looks.
  log?.warn(
    { url: req.url, contentType, body: typeof body },
    'publish body already read by middleware before the hub (mount hub.handler before body parsers)',
  );
  throw new HubError(
    'ERR_BODY_CONSUMED',
    'the publish body was read before the hub saw it (a body parser such as express.json() or ' +
      'express.urlencoded() mounted before hub.handler) and what it left cannot be published as ' +
      'sent: mount hub.handler before any body parser (Fastify: hand requests over in an onRequest ' +
      'hook), or keep the raw body as req.rawBody',
  );
}

function rawOf(value: unknown): Buffer | undefined {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return undefined;
}

/** Names with string or string-array values, as a form parser gives (and the hub's own does). */
function isFields(body: unknown): body is Record<string, string | string[]> {
  if (typeof body !== 'object' || Array.isArray(body)) return false;
  for (const value of Object.values(body as object)) {
    if (typeof value === 'string') continue;
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) continue;
    return false;
  }
  return true;
}

/** The value's JSON text, refused when larger than a body the hub would have read. */
function jsonOf(value: unknown, limit: number): string {
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    // A value nested past the stack (or with a cycle) is no message: refused, nothing stored.
    throw new HubError('ERR_BAD_BODY', 'the parsed body cannot be serialized as JSON (nested too deeply?)');
  }
  if (Buffer.byteLength(json) > limit) throw tooLarge(limit);
  return json;
}

function tooLarge(limit: number): HubError {
  return new HubError('ERR_BODY_TOO_LARGE', `the body is larger than ${limit} bytes`);
}

/** The media type of a Content-Type header, lowercased, without parameters ('' when none). */
function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}
