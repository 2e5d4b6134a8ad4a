// The XMLHttpRequest transport: one attempt of a request, asynchronous (request) or synchronous
// (requestSync). Retries, hooks and validateStatus live in request.ts.
import { CometaError, failure } from './errors.js';
import { kindOf, makeResponse, parseHeaders, parseJSON } from './response.js';
import type { CometaResponse, Progress, RequestConfig } from './types.js';

/** Opens an XHR and configures it in the order XHR requires (headers after open, all before send). */
export function openXHR(c: RequestConfig, async: boolean): XMLHttpRequest {
  const xhr = new XMLHttpRequest();
  xhr.open(c.method, c.url, async);
  for (const name in c.headers) xhr.setRequestHeader(name, c.headers[name]!);
  if (c.mimeType) xhr.overrideMimeType(c.mimeType);
  if (c.withCredentials) xhr.withCredentials = true;
  // blob and arraybuffer need responseType; text, JSON and XML all come from the default ''.
  if (c.responseType === 'blob' || c.responseType === 'arraybuffer') xhr.responseType = c.responseType;
  if (c.timeout) xhr.timeout = c.timeout;
  return xhr;
}

/** The response of a finished XHR, its body decoded per responseType. */
export function xhrResponse(xhr: XMLHttpRequest, c: RequestConfig): CometaResponse {
  const r = {
    status: xhr.status,
    statusText: xhr.statusText,
    headers: parseHeaders(xhr.getAllResponseHeaders()),
    url: xhr.responseURL || c.url,
    xhr,
  };
  const kind = kindOf(c, c.mimeType || r.headers.get('content-type'));
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

const progress =
  (cb: (p: Progress) => void) =>
  (e: ProgressEvent): void =>
    cb({ loaded: e.loaded, total: e.total, lengthComputable: e.lengthComputable });

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
            e.type === 'timeout'
              ? failure('ERR_TIMEOUT', c)
              : e.type === 'abort'
                ? failure('ERR_ABORTED', c, signal.reason)
                : failure('ERR_NETWORK', c),
          );
    xhr.onloadend = () => signal.removeEventListener('abort', abort);
    if (c.onDownloadProgress) xhr.onprogress = progress(c.onDownloadProgress);
    // Only when asked: any listener on xhr.upload makes a cross-origin request preflighted.
    if (c.onUploadProgress) xhr.upload.onprogress = progress(c.onUploadProgress);
    signal.addEventListener('abort', abort);
    xhr.send(body as XMLHttpRequestBodyInit | null);
  });
}
