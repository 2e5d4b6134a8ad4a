/**
 * The one registry of cometa's error codes, shared by the hub (wire errors, answered as
 * `{"error":{"code","message"}}` with `status`) and the client (thrown as `CometaError`).
 * A test keeps this registry, the `ErrorCode` type and docs/errors.md in step.
 */
export const ERROR_CODES = {
  // Hub: bad input (4xx). Never echoes attacker-controlled text into script or headers.
  ERR_BAD_CHANNEL: { status: 400, side: 'hub', text: 'A channel name is not valid.' },
  ERR_TOO_MANY_CHANNELS: {
    status: 400,
    side: 'hub',
    text: 'A subscription names more channels than allowed.',
  },
  ERR_BAD_CURSOR: { status: 400, side: 'hub', text: 'The cursor (`since` or `Last-Event-ID`) is malformed.' },
  ERR_BAD_PARAM: { status: 400, side: 'hub', text: 'A query parameter is malformed or out of range.' },
  ERR_BAD_EVENT: { status: 400, side: 'hub', text: 'The event name is malformed or reserved.' },
  ERR_BAD_CALLBACK: {
    status: 400,
    side: 'hub',
    text: 'The JSONP callback name is not a JavaScript identifier path.',
  },
  ERR_BAD_BODY: {
    status: 400,
    side: 'hub',
    text: 'The request body cannot be parsed as its Content-Type says.',
  },
  ERR_BAD_IDEMPOTENCY_KEY: {
    status: 400,
    side: 'hub',
    text: 'The idempotency key is not 1-255 visible ASCII characters.',
  },
  ERR_JSON_TOO_DEEP: {
    status: 400,
    side: 'hub',
    text: 'A JSON body or WebSocket frame nests arrays and objects deeper than `limits.maxJsonDepth`; nothing was published.',
  },
  ERR_BAD_FRAME: {
    status: 400,
    side: 'hub',
    text: 'A WebSocket frame from the client is not a valid command.',
  },
  ERR_UNAUTHORIZED: {
    status: 401,
    side: 'hub',
    text: 'No valid credentials (token missing, invalid or expired).',
  },
  ERR_FORBIDDEN: { status: 403, side: 'hub', text: 'The credentials do not grant this channel or action.' },
  ERR_ORIGIN_FORBIDDEN: { status: 403, side: 'hub', text: 'The request Origin is not allowed.' },
  ERR_CSRF: {
    status: 403,
    side: 'hub',
    text: 'A state-changing request did not prove it came from an allowed page.',
  },
  ERR_PUBLISH_DISABLED: {
    status: 403,
    side: 'hub',
    text: 'This way of publishing is not enabled for the channel.',
  },
  ERR_NOT_FOUND: { status: 404, side: 'hub', text: 'No such route.' },
  ERR_METHOD_NOT_ALLOWED: {
    status: 405,
    side: 'hub',
    text: 'The method is not allowed on this route (see `Allow`).',
  },
  ERR_BODY_TOO_LARGE: {
    status: 413,
    side: 'hub',
    text: 'The request body is larger than `limits.maxBodyBytes`.',
  },
  ERR_IDEMPOTENCY_MISMATCH: {
    status: 422,
    side: 'hub',
    text: 'The idempotency key was used for another publish (other event or data) within its window.',
  },
  ERR_TOO_MANY_FIELDS: {
    status: 413,
    side: 'hub',
    text: 'A form body has more fields or parts than `limits.maxFields`; nothing was published.',
  },
  ERR_WEBSOCKET_VERSION: {
    status: 426,
    side: 'hub',
    text: 'The WebSocket protocol version is not one the hub speaks (see `Sec-WebSocket-Version`).',
  },
  ERR_HEADERS_TOO_LARGE: { status: 431, side: 'hub', text: 'The request headers are larger than allowed.' },
  ERR_BAD_REQUEST: {
    status: 400,
    side: 'hub',
    text: 'The request is not valid HTTP (the hub could not parse it).',
  },
  ERR_REQUEST_TIMEOUT: {
    status: 408,
    side: 'hub',
    text: 'The request head or body did not arrive within its time limit.',
  },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, side: 'hub', text: 'The Content-Type cannot be published.' },
  ERR_FILE_NOT_ALLOWED: {
    status: 415,
    side: 'hub',
    text: 'A multipart body contained a file part; only fields are published.',
  },
  ERR_RATE_LIMITED: {
    status: 429,
    side: 'hub',
    text: 'Too many publishes; retry after `Retry-After` seconds.',
  },
  // Hub: Durable Streams (docs/durable-streams.md), with the protocol's own statuses.
  ERR_BAD_OFFSET: {
    status: 400,
    side: 'hub',
    text: 'A Durable Streams offset is malformed, repeated or beyond the stream.',
  },
  ERR_PRODUCER_FENCED: {
    status: 403,
    side: 'hub',
    text: 'A newer epoch of this idempotent producer has written (see `Producer-Epoch`).',
  },
  ERR_STREAM_NOT_FOUND: { status: 404, side: 'hub', text: 'No Durable Stream at this path.' },
  ERR_STREAM_CONFLICT: {
    status: 409,
    side: 'hub',
    text: 'The stream exists with another configuration, another Content-Type, or a later Stream-Seq.',
  },
  ERR_STREAM_CLOSED: {
    status: 409,
    side: 'hub',
    text: 'The stream is closed; nothing more can be appended (see `Stream-Next-Offset`).',
  },
  ERR_PRODUCER_SEQ_GAP: {
    status: 409,
    side: 'hub',
    text: 'Producer-Seq skipped ahead (see `Producer-Expected-Seq`).',
  },
  ERR_STREAM_FULL: {
    status: 413,
    side: 'hub',
    text: 'The append would take the stream past `streams.maxStreamBytes`.',
  },
  ERR_STREAM_GONE: { status: 410, side: 'hub', text: 'The stream was deleted; forks still read its data.' },
  ERR_FORK_TOO_DEEP: {
    status: 409,
    side: 'hub',
    text: 'The fork would read through more than `streams.maxForkDepth` streams; fork an earlier one.',
  },
  ERR_TOO_MANY_PRODUCERS: {
    status: 409,
    side: 'hub',
    text: 'The stream already keeps state for `streams.maxProducers` idempotent producers (forgotten 7 days after their last append).',
  },
  ERR_TOO_MANY_MESSAGES: {
    status: 413,
    side: 'hub',
    text: 'A JSON-array append holds more than `streams.maxAppendMessages` messages; nothing was stored.',
  },
  ERR_STREAMS_FULL: {
    status: 507,
    side: 'hub',
    text: 'The streams would hold more than `streams.maxTotalBytes` bytes or `streams.maxStreams` streams in all; nothing was stored.',
  },
  ERR_STREAM_BUSY: {
    status: 503,
    side: 'hub',
    text: 'The stream kept changing under concurrent writers; retry.',
  },
  ERR_INTERNAL: { status: 500, side: 'hub', text: 'An unexpected hub error (a bug: please report it).' },
  ERR_BODY_CONSUMED: {
    status: 500,
    side: 'hub',
    text: 'Middleware read the publish body before the hub and left nothing it can publish (mount the hub first).',
  },
  ERR_NOT_IMPLEMENTED: {
    status: 501,
    side: 'hub',
    text: 'The transport or feature is not available on this hub.',
  },
  ERR_STORE_UNAVAILABLE: {
    status: 503,
    side: 'hub',
    text: 'The message store cannot be reached; nothing was published.',
  },
  ERR_SHUTTING_DOWN: { status: 503, side: 'hub', text: 'The hub is shutting down.' },
  ERR_TOO_MANY_CONNECTIONS: { status: 503, side: 'hub', text: 'Connection limit reached (total or per IP).' },

  // Client: thrown by cometa/client as CometaError with this code.
  ERR_TIMEOUT: { status: 0, side: 'client', text: 'The request took longer than `timeout`.' },
  ERR_ABORTED: { status: 0, side: 'client', text: 'The request was aborted through its AbortSignal.' },
  ERR_NETWORK: {
    status: 0,
    side: 'client',
    text: 'The request failed at the network level (or CORS refused it).',
  },
  ERR_HTTP_STATUS: {
    status: 0,
    side: 'client',
    text: 'The status failed `validateStatus`; carries status, headers and body.',
  },
  ERR_PARSE: { status: 0, side: 'client', text: 'The response body could not be decoded as `responseType`.' },
  ERR_JSONP_SCRIPT: {
    status: 0,
    side: 'client',
    text: 'The JSONP script failed to load (its error event fired).',
  },
  ERR_JSONP_NOT_CALLED: {
    status: 0,
    side: 'client',
    text: 'The JSONP script loaded but never called the callback.',
  },
  ERR_BROWSER_ONLY: {
    status: 0,
    side: 'client',
    text: 'The feature needs a browser (XMLHttpRequest, script tags or images).',
  },
  ERR_BAD_OPTION: { status: 0, side: 'client', text: 'An option passed to the client is invalid.' },
  ERR_SUBSCRIPTION: {
    status: 0,
    side: 'client',
    text: 'A subscription could not be established on any transport.',
  },
} as const satisfies Record<string, { status: number; side: 'hub' | 'client'; text: string }>;

/** Every stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;
/** Codes the hub answers with. */
export type HubErrorCode = {
  [K in ErrorCode]: (typeof ERROR_CODES)[K]['side'] extends 'hub' ? K : never;
}[ErrorCode];
/** Codes the client throws. */
export type ClientErrorCode = Exclude<ErrorCode, HubErrorCode>;

/** The JSON body of every hub error. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}
