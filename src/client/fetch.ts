// The fetch transport of requests, used where there is no XMLHttpRequest (Node, service workers):
// only the universal build (api-any.ts) imports it, so browser bundles never hold it. It resolves
// with the parts of an XMLHttpRequest that xhrResponse() reads (decoding and errors stay in shared
// code), or with a failure code.
import type { RequestConfig } from './types.js';

/** A finished fetch, shaped like the XMLHttpRequest fields that xhrResponse() reads. */
export interface FetchResult {
  status: number;
  statusText: string;
  responseURL: string;
  getAllResponseHeaders(): string;
  responseText: string;
  response: unknown;
  /** No DOMParser outside browsers: `auto` decodes XML types as their text. */
  responseXML: string;
}

/** A failed fetch: request.ts turns it into the CometaError of that code. */
export interface FetchFailure {
  code: 'ERR_TIMEOUT' | 'ERR_ABORTED' | 'ERR_NETWORK';
  cause: unknown;
}

/**
 * One attempt through fetch, the same options as XHR where they make sense: the timeout covers the
 * body too, download progress comes from reading the body stream. Text is decoded as UTF-8 (as
 * fetch's `text()` does), whatever the charset.
 */
export async function fetchSend(c: RequestConfig, body: unknown): Promise<FetchResult | FetchFailure> {
  const { signal, timeout, onDownloadProgress, responseType } = c;
  // Our own controller and timer rather than AbortSignal.any/timeout: Node may garbage-collect a
  // timeout signal that only AbortSignal.any refers to, and then it never fires.
  const ctrl = new AbortController();
  const abort = () => ctrl.abort();
  let timedOut = false;
  const timer =
    timeout &&
    setTimeout(() => {
      timedOut = true;
      abort();
    }, timeout);
  signal.addEventListener('abort', abort);
  try {
    const res = await fetch(c.url, {
      method: c.method,
      headers: c.headers,
      body: body as BodyInit | null,
      signal: ctrl.signal, // the timeout covers reading the body too
      credentials: c.withCredentials ? 'include' : 'same-origin',
    });
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
    const blob = new Blob(chunks as BlobPart[], {
      type: c.mimeType || res.headers.get('content-type') || '',
    });
    const text = responseType === 'blob' || responseType === 'arraybuffer' ? '' : await blob.text();
    return {
      status: res.status,
      statusText: res.statusText,
      responseURL: res.url,
      getAllResponseHeaders: () => [...res.headers].map(([name, value]) => `${name}: ${value}`).join('\r\n'),
      responseText: text,
      response:
        responseType === 'blob' ? blob : responseType === 'arraybuffer' ? await blob.arrayBuffer() : text,
      responseXML: text,
    };
  } catch (cause) {
    return signal.aborted
      ? { code: 'ERR_ABORTED', cause: signal.reason }
      : { code: timedOut ? 'ERR_TIMEOUT' : 'ERR_NETWORK', cause };
  } finally {
    clearTimeout(timer || undefined);
    signal.removeEventListener('abort', abort);
  }
}
