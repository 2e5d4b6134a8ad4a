// The XMLHttpRequest transport: one attempt of a request, asynchronous (request) or synchronous
// (requestSync). Retries, hooks and validateStatus live in request.ts.
import { CometaError, failure } from './errors.js';
import type { FetchResult } from './fetch.js';
import { kindOf, makeResponse, parseHeaders, parseJSON } from './response.js';
import type { CometaResponse, RequestConfig } from './types.js';

/** Opens an XHR and configures it in the order XHR requires (headers after open, all before send). */
export function openXHR(c: RequestConfig, async: boolean): XMLHttpRequest {
  const xhr = new XMLHttpRequest();
  xhr.open(c.method, c.url, async);
  for (const name in c.headers) xhr.setRequestHeader(name, c.headers[name]!);
  if (c.mimeType) xhr.overrideMimeType(c.mimeType);
  if (c.withCredentials) xhr.withCredentials = true;
  // blob and arraybuffer need responseType; text, JSON and XML all come from the default ''.
  if (/blob|arraybuffer/.test(c.responseType))
    xhr.responseType = c.responseType as XMLHttpRequestResponseType;
  if (c.timeout) xhr.timeout = c.timeout;
  return xhr;
}

/**
 * The response of a finished XHR (or of a fetch shaped like one, see fetch.ts), its body decoded
 * per responseType.
 */
export function xhrResponse(xhr: XMLHttpRequest | FetchResult, c: RequestConfig): CometaResponse {
  const r = {
    status: xhr.status,
    statusText: xhr.statusText,
    headers: parseHeaders(xhr.getAllResponseHeaders()),
    url: xhr.responseURL || c.url,
    // request() uses XHR wherever XMLHttpRequest exists, fetch only where it does not.
    xhr: typeof XMLHttpRequest === 'function' ? (xhr as XMLHttpRequest) : null,
  };
  const kind = kindOf(c, c.mimeType || r.headers.get('content-type') || '');
  return makeResponse(c, r, () => {
    if (kind === 'json') return parseJSON(xhr.responseText);
    if (kind !== 'xml') return kind === 'text' ? xhr.responseText : xhr.response;
    // responseXML is null when the type is not XML or the document is not well-formed.
    if (xhr.responseXML) return xhr.responseXML;
    throw new CometaError('ERR_PARSE', 'the response is not an XML document', {
      data: xhr.responseText,
    });
  });
}

/** One asynchronous attempt. Rejects with ERR_NETWORK, ERR_TIMEOUT, ERR_ABORTED or ERR_PARSE. */
export function xhrSend(c: RequestConfig, body: unknown): Promise<CometaResponse> {
  return new Promise((resolve, reject) => {
    const xhr = openXHR(c, true);
    const { signal } = c;
    const abort = () => xhr.abort();
    xhr.onload = () => {
      // Status 0 after load means no HTTP response (a file: URL, a blocked request).
      if (!xhr.status) return reject(failure('ERR_NETWORK', c));
      try {
        resolve(xhrResponse(xhr, c));
      } catch (e) {
        reject(e);
      }
    };
    xhr.onerror =
      xhr.ontimeout =
      xhr.onabort =
        (e) =>
          reject(
            failure(
              e.type === 'timeout' ? 'ERR_TIMEOUT' : e.type === 'abort' ? 'ERR_ABORTED' : 'ERR_NETWORK',
              c,
              signal.reason, // undefined unless the signal aborted
            ),
          );
    xhr.onloadend = () => signal.removeEventListener('abort', abort);
    // The callbacks get the ProgressEvent itself: it has loaded, total and lengthComputable.
    if (c.onDownloadProgress) xhr.onprogress = c.onDownloadProgress;
    // Only when asked: any listener on xhr.upload makes a cross-origin request preflighted.
    if (c.onUploadProgress) xhr.upload.onprogress = c.onUploadProgress;
    signal.addEventListener('abort', abort);
    xhr.send(body as XMLHttpRequestBodyInit | null);
  });
}
