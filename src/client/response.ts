// Responses: headers parsed from getAllResponseHeaders() and bodies decoded per responseType,
// shared by the XHR and fetch transports.
import { CometaError, httpError } from './errors.js';
import type { CometaResponse, RequestConfig } from './types.js';

/**
 * Parses getAllResponseHeaders() into a Headers: case-insensitive `get()`, repeated headers kept
 * (joined with ", ", as the platform joins them).
 */
export function parseHeaders(raw: string): Headers {
  const headers = new Headers();
  for (const line of raw.split(/\r?\n/)) {
    const i = line.indexOf(':');
    // The browser hands over only valid names and values, which Headers accepts.
    if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return headers;
}

/** Which decoder `auto` picks for a Content-Type. */
export const kindOf = (c: RequestConfig, contentType: string): string =>
  c.responseType !== 'auto'
    ? c.responseType
    : // The subtype (or its +suffix) must end there: application/json-seq is not JSON.
      (/[/+](json|xml)\s*(;|$)/.exec(contentType.toLowerCase()) || [])[1] || 'text';

/** Parses JSON text; an empty body is `null` (as XHR's own `json` type gives). */
export function parseJSON(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch (cause) {
    throw new CometaError('ERR_PARSE', 'the response is not valid JSON', { cause, data: text });
  }
}

/**
 * Builds the response. A body that fails to decode throws ERR_PARSE, unless the status fails
 * validateStatus anyway: then the raw text becomes `data` for the ERR_HTTP_STATUS error.
 */
export function makeResponse(
  c: RequestConfig,
  r: Omit<CometaResponse, 'data'>,
  decode: () => unknown,
): CometaResponse {
  try {
    return { ...r, data: decode() };
  } catch (e) {
    if (c.validateStatus(r.status)) throw e;
    return { ...r, data: (e as CometaError).data };
  }
}

/** The ERR_HTTP_STATUS error for a response whose status failed validateStatus. */
export function statusError(res: CometaResponse, c: RequestConfig): CometaError {
  // The error carries the response's fields (status, statusText, headers, data, url, xhr) too.
  return httpError(c.method, c.url, { ...res, response: res });
}
