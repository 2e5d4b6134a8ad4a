import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_CODES, type HubErrorCode } from '../../protocol/errors.js';
import { parseIdempotencyKey } from '../idempotency.js';
import { checkCallback } from '../transports/jsonp.js';
import { parsePublishBody, readBody } from './body.js';
import { alreadyReadBody } from './parsed-body.js';
import { bodyHeaders, HubError, sendJson } from './respond.js';
import type { RouterHost } from './router.js';
import { jsonpScript } from './script.js';

/**
 * `/pub/{channel}`: POST publishes the body (202 `{"id","channel"}` once stored), GET answers
 * the channel's info, DELETE drops its history (subscribers get a `deleted` event).
 * `GET /pub/{channel}?callback=NAME&data=…` is a JSONP publish (see {@link publishJsonp}).
 */
export async function handlePublishRoute(
  host: RouterHost,
  req: IncomingMessage,
  res: ServerResponse,
  channel: string,
  query: URLSearchParams,
  cors: Record<string, string>,
  originAllowed = true,
  scope = '',
): Promise<void> {
  if (req.method === 'GET' && query.has('callback')) {
    await publishJsonp(host, res, channel, query, cors, originAllowed);
    return;
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    sendJson(res, 200, await host.info(channel), cors);
    return;
  }
  if (req.method === 'DELETE') {
    await host.drop(channel);
    sendJson(res, 200, { channel, deleted: true }, cors);
    return;
  }
  // Checked before the body is read: a malformed key is refused without reading a megabyte.
  const key = parseIdempotencyKey(req.headers['idempotency-key']);
  const limits = host.core.options.limits;
  const type = req.headers['content-type'];
  const format = query.get('format');
  // An app's body parser may have read the body already (it would never arrive here again).
  const taken = await alreadyReadBody(req, type, format, limits, host.core.log);
  const data =
    taken === undefined
      ? await parsePublishBody(await readBody(req, limits.maxBodyBytes), type, format, limits)
      : taken.data;
  const event = query.get('event');
  if (key !== undefined) {
    const r = await host.publishOnce(channel, data, event === null ? { key, scope } : { event, key, scope });
    const headers: Record<string, string> = { ...cors, 'Cometa-Id': r.id };
    if (r.duplicate) headers['Idempotent-Replayed'] = 'true';
    sendJson(res, 202, r.duplicate ? { id: r.id, channel, duplicate: true } : { id: r.id, channel }, headers);
    return;
  }
  const id = await host.publish(channel, data, event === null ? {} : { event });
  sendJson(res, 202, { id, channel }, { ...cors, 'Cometa-Id': id });
}

/**
 * JSONP publish: `GET /pub/{channel}?callback=NAME&data=…[&event=…][&format=json|form]`, for channels
 * whose `options.channels` rule has `publishGet: true` (off by default: any page can make a browser
 * send a GET, with no Origin header for a script tag). `data` is published as a string, or parsed as
 * JSON (`format=json`) or as urlencoded fields (`format=form`). Answers
 * `/**∕NAME({"id":"…","channel":"…"});`.
 *
 * Errors with a valid callback are answered as script too (see {@link sendScriptError}), so the page
 * learns why; a bad callback name is a JSON 400 that is never echoed into script.
 */
async function publishJsonp(
  host: RouterHost,
  res: ServerResponse,
  channel: string,
  query: URLSearchParams,
  cors: Record<string, string>,
  originAllowed: boolean,
): Promise<void> {
  const callback = checkCallback(query.get('callback'));
  // A script tag sends no Origin; a fetch does, and then it must be an allowed one.
  if (!originAllowed) throw new HubError('ERR_ORIGIN_FORBIDDEN', 'this Origin may not publish on this hub');
  if (!host.core.options.channelPolicy(channel).publishGet) {
    throw new HubError(
      'ERR_PUBLISH_DISABLED',
      'publishing with GET is not enabled for this channel (options.channels: publishGet)',
    );
  }
  const raw = query.get('data');
  if (raw === null) throw new HubError('ERR_BAD_PARAM', 'a JSONP publish needs ?data=');
  const data = await parsePublishBody(
    Buffer.from(raw, 'utf8'),
    'text/plain',
    query.get('format'),
    host.core.options.limits,
  );
  const event = query.get('event');
  const id = await host.publish(channel, data, event === null ? {} : { event });
  sendScript(res, callback, { id, channel }, { ...cors, 'Cometa-Id': id });
}

/**
 * A JSONP answer: `/**∕NAME(json);` as `application/javascript` with `nosniff` (a browser then runs it
 * only as a script, never as anything else). The leading comment keeps a callback name from being
 * read as the start of a file-format signature (the Rosetta Flash family of attacks). Always 200:
 * a browser runs a script only from an OK status, so an error must be a 200 to reach the callback.
 */
export function sendScript(
  res: ServerResponse,
  callback: string,
  value: unknown,
  headers?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = jsonpScript(callback, JSON.stringify(value));
  res.writeHead(200, bodyHeaders(headers, 'application/javascript; charset=utf-8', Buffer.byteLength(body)));
  res.end(body);
}

/**
 * A JSONP error: `/**∕NAME({"error":{"code","message","status"}});` with HTTP 200, for a request that
 * carried a valid callback. A script tag cannot read a status (and a non-OK answer is not run at all,
 * leaving the page with a bare `error` event), so the error travels in the argument: JSONP clients
 * check for an `error` member before using the answer. `status` is the HTTP status the same error has
 * everywhere else.
 */
export function sendScriptError(
  res: ServerResponse,
  callback: string,
  code: HubErrorCode,
  message: string,
  headers?: Record<string, string>,
): void {
  sendScript(res, callback, { error: { code, message, status: ERROR_CODES[code].status } }, headers);
}
