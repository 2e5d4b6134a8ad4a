import type { IncomingMessage } from 'node:http';
import { type BodyBounds, checkFieldCount, checkJsonDepth, checkPartCount } from './body-bounds.js';
import { HubError } from './respond.js';

/**
 * Reads a request body, refusing more than `limit` bytes (by Content-Length first, then as it
 * streams). Plain 'data'/'end' listeners: every publish goes through here, and an async iterator
 * costs a promise and a generator step per chunk.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new HubError('ERR_BODY_TOO_LARGE', `the body is larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop reading; the router answers 413 and closes the connection.
        done();
        req.pause();
        reject(new HubError('ERR_BODY_TOO_LARGE', `the body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    // A peer that goes away mid-body: 'close' without 'end' (aborted); nobody waits for the answer.
    const onClose = (): void => {
      if (!req.complete) onError(new Error('the request was aborted'));
    };
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** Field values of a form: repeated names become arrays. */
export type Fields = Record<string, string | string[]>;

function addField(fields: Fields, name: string, value: string): void {
  const prev = fields[name];
  if (prev === undefined) fields[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else fields[name] = [prev, value];
}

/** URLSearchParams (a query, an urlencoded body) as an object of fields. */
export function fieldsOf(params: URLSearchParams, skip?: ReadonlySet<string>): Fields {
  const fields: Fields = Object.create(null);
  for (const [k, v] of params) if (!skip?.has(k)) addField(fields, k, v);
  return { ...fields };
}

/**
 * Turns a publish body into the message's data, by Content-Type:
 * JSON → the parsed value; text/* or none → a string; urlencoded and multipart → fields.
 * `format` (`json` | `form`) reinterprets a text/plain body, for XDomainRequest-style clients
 * that can only send text/plain. `bounds` (the hub's `limits`) caps JSON depth and form fields.
 */
export async function parsePublishBody(
  body: Buffer,
  contentType: string | undefined,
  format: string | null,
  bounds: BodyBounds,
): Promise<unknown> {
  const type = mediaType(contentType);
  if (format !== null) {
    if (type !== '' && type !== 'text/plain') {
      throw new HubError('ERR_BAD_PARAM', '?format= applies only to text/plain bodies');
    }
    if (format === 'json') return parseJson(body, bounds);
    if (format === 'form') return parseForm(body, bounds);
    throw new HubError('ERR_BAD_PARAM', '?format= must be json or form');
  }
  if (type === 'multipart/form-data') return parseMultipart(body, contentType!, bounds);
  return parseSimpleBody(body, type, bounds);
}

/** The media type of a Content-Type header, lowercased, without parameters ('' when none). */
function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/**
 * {@link parsePublishBody} without `?format=`, synchronously, for every type but multipart (whose
 * parser is asynchronous): `undefined` then. The fast lane's publishes take this path.
 */
export function parsePublishBodyNow(
  body: Buffer,
  contentType: string | undefined,
  bounds: BodyBounds,
): unknown {
  const type = mediaType(contentType);
  return type === 'multipart/form-data' ? undefined : parseSimpleBody(body, type, bounds);
}

/** JSON, text and urlencoded bodies (see parsePublishBody); any other type is refused. */
function parseSimpleBody(body: Buffer, type: string, bounds: BodyBounds): unknown {
  if (type === 'application/json' || type.endsWith('+json')) return parseJson(body, bounds);
  if (type === '' || type.startsWith('text/')) return body.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') return parseForm(body, bounds);
  throw new HubError(
    'ERR_UNSUPPORTED_MEDIA_TYPE',
    'publish bodies are application/json, text/*, application/x-www-form-urlencoded or multipart/form-data',
  );
}

/** An urlencoded body as fields, refused before parsing when it has too many. */
function parseForm(body: Buffer, bounds: BodyBounds): Fields {
  checkFieldCount(body, bounds.maxFields);
  return fieldsOf(new URLSearchParams(body.toString('utf8')));
}

/** A JSON body, refused before parsing when it nests too deep (nothing deeper is ever stored). */
function parseJson(body: Buffer, bounds: BodyBounds): unknown {
  checkJsonDepth(body, bounds.maxJsonDepth);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HubError('ERR_BAD_BODY', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Multipart fields through the platform's own parser (undici's FormData); file parts are refused. */
async function parseMultipart(body: Buffer, contentType: string, bounds: BodyBounds): Promise<unknown> {
  checkPartCount(body, contentType, bounds.maxFields);
  let form: FormData;
  try {
    form = await new Response(new Blob([new Uint8Array(body)]), {
      headers: { 'content-type': contentType },
    }).formData();
  } catch {
    throw new HubError('ERR_BAD_BODY', 'the multipart body is malformed (check the boundary)');
  }
  const fields: Fields = Object.create(null);
  for (const [name, value] of form) {
    if (typeof value !== 'string') {
      throw new HubError(
        'ERR_FILE_NOT_ALLOWED',
        `the part ${JSON.stringify(name)} is a file; only fields are published`,
      );
    }
    addField(fields, name, value);
  }
  // A null-prototype object while filling (a field named __proto__ stays a field), then a plain one.
  return { ...fields };
}
