// The fetch transport, used where there is no XMLHttpRequest (Node, service workers): the same
// options where they make sense. Download progress comes from reading the body stream; upload
// progress and XML documents need XHR and fail with ERR_BROWSER_ONLY.
import { browserOnly, failure, isCometaError } from './errors.js';
import { kindOf, makeResponse, parseJSON } from './response.js';
import type { CometaResponse, RequestConfig } from './types.js';

/**
 * One attempt through fetch. Rejects with ERR_NETWORK, ERR_TIMEOUT, ERR_ABORTED or ERR_PARSE.
 * Text is decoded as UTF-8 (as fetch's `text()` does), whatever the charset.
 */
export async function fetchSend(c: RequestConfig, body: unknown): Promise<CometaResponse> {
  if (c.onUploadProgress) throw browserOnly('onUploadProgress');
  if (c.responseType === 'xml') throw browserOnly('responseType "xml"');
  const { signal, onDownloadProgress } = c;
  const ctrl = new AbortController();
  const abort = () => ctrl.abort();
  let timedOut = false;
  const timer =
    c.timeout &&
    setTimeout(() => {
      timedOut = true;
      abort();
    }, c.timeout);
  signal.addEventListener('abort', abort);
  try {
    const res = await fetch(c.url, {
      method: c.method,
      headers: c.headers,
      body: body as BodyInit | null,
      signal: ctrl.signal,
      credentials: c.withCredentials ? 'include' : 'same-origin',
    });
    const type = c.mimeType || res.headers.get('content-type') || '';
    const total = +(res.headers.get('content-length') || 0);
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    const reader = res.body?.getReader();
    while (reader) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      onDownloadProgress?.({ loaded, total, lengthComputable: total > 0 });
    }
    const blob = new Blob(chunks as BlobPart[], { type });
    const kind = kindOf(c, type);
    // `auto` decodes XML types as text: there is no DOMParser outside browsers.
    const data =
      kind === 'blob' ? blob : kind === 'arraybuffer' ? await blob.arrayBuffer() : await blob.text();
    return makeResponse(
      c,
      {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
        url: res.url || c.url,
        xhr: null,
      },
      () => (kind === 'json' ? parseJSON(data as string) : data),
    );
  } catch (e) {
    if (isCometaError(e)) throw e;
    throw timedOut
      ? failure('ERR_TIMEOUT', c)
      : signal.aborted
        ? failure('ERR_ABORTED', c, signal.reason)
        : failure('ERR_NETWORK', c, e);
  } finally {
    clearTimeout(timer || undefined);
    signal.removeEventListener('abort', abort);
  }
}
