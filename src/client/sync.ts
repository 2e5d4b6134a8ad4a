// requestSync(): the chapter's synchronous XHR, for workers and legacy code. It blocks the thread,
// so on a window (not in workers) XHR refuses a timeout and the blob/arraybuffer response types.
import { prepareBody } from './body.js';
import { badOption, browserOnly, failure } from './errors.js';
import { merge, toConfig, validate } from './options.js';
import { statusError } from './response.js';
import type { CometaResponse, RequestOptions } from './types.js';
import { openXHR, xhrResponse } from './xhr.js';

/** Options of {@link requestSync}: those of request() that a blocking call can honour. */
export type SyncOptions = Omit<
  RequestOptions,
  'signal' | 'onUploadProgress' | 'onDownloadProgress' | 'hooks' | 'retry'
>;

/**
 * Sends a synchronous XMLHttpRequest and returns the response (or throws a CometaError). Blocks
 * the thread until the response: use it in workers or where an API must be synchronous.
 * On a window, `timeout` and `responseType` `blob`/`arraybuffer` are refused (ERR_BAD_OPTION),
 * as XHR refuses them there; `signal`, progress, `hooks` and `retry` are not supported.
 * Throws ERR_BROWSER_ONLY where there is no XMLHttpRequest (Node).
 * @example
 * const { data } = requestSync('/config.json');
 */
export function requestSync<T = unknown>(url: string | URL, options: SyncOptions = {}): CometaResponse<T> {
  if (typeof XMLHttpRequest !== 'function') throw browserOnly('requestSync');
  validate(options);
  for (const k of ['signal', 'onUploadProgress', 'onDownloadProgress', 'hooks', 'retry'] as const) {
    if ((options as RequestOptions)[k] !== undefined) throw badOption(k, 'left out of requestSync');
  }
  if (typeof window === 'object') {
    if (options.timeout) throw badOption('timeout', '0 for requestSync on a window');
    if (/blob|arraybuffer/.test(options.responseType ?? '')) {
      throw badOption('responseType', 'auto|json|text|xml for requestSync on a window');
    }
  }
  const c = toConfig(`${url}`, merge({}, options));
  const body = /^(GET|HEAD)$/.test(c.method) ? null : prepareBody(c.body, c.headers);
  const xhr = openXHR(c, false);
  try {
    xhr.send(body as XMLHttpRequestBodyInit | null);
  } catch (cause) {
    // A synchronous send() reports failures by throwing a DOMException.
    throw failure((cause as DOMException).name === 'TimeoutError' ? 'ERR_TIMEOUT' : 'ERR_NETWORK', c, cause);
  }
  const res = xhrResponse(xhr, c);
  if (c.validateStatus(res.status)) return res as CometaResponse<T>;
  throw statusError(res, c);
}
