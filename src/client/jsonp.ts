// JSONP: a <script> whose response calls a global function. Unlike most JSONP helpers it detects
// all three failures: the script's error event, a script that ran but never called back, and the
// timeout; and it always removes the script and its global afterwards.
import { badOption, browserOnly, CometaError } from './errors.js';
import { buildQuery, withQuery } from './query.js';
import type { Query } from './types.js';

/** Options of {@link jsonp}. */
export interface JSONPOptions {
  /** Name of the query parameter that carries the callback name. @default 'callback' */
  callbackParam?: string | undefined;
  /** Global function name to use (a JavaScript identifier). @default a unique `cometa_jsonp_…` name */
  callbackName?: string | undefined;
  /** Other query parameters. @default undefined */
  query?: Query | undefined;
  /** Milliseconds before rejecting with ERR_TIMEOUT; 0 waits forever. @default 0 */
  timeout?: number | undefined;
  /** Rejects with ERR_ABORTED when it aborts. @default undefined */
  signal?: AbortSignal | undefined;
  /** Nonce for a Content-Security-Policy that requires one on scripts. @default undefined */
  nonce?: string | undefined;
}

let seq = 0;

/**
 * Loads `url` as a JSONP script and resolves with the first argument it calls back with.
 * Rejects with ERR_JSONP_SCRIPT (the script failed to load, e.g. HTTP 500), ERR_JSONP_NOT_CALLED
 * (it loaded but never called back), ERR_TIMEOUT or ERR_ABORTED; ERR_BROWSER_ONLY outside browsers.
 * @example
 * const user = await jsonp('https://api.example.com/user', { query: { id: 7 }, timeout: 5000 });
 */
export function jsonp<T = unknown>(url: string | URL, options: JSONPOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (typeof document !== 'object') throw browserOnly('jsonp');
    const { callbackParam = 'callback', timeout = 0, signal, nonce } = options;
    const name = options.callbackName ?? `cometa_jsonp_${Date.now().toString(36)}_${seq++}`;
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw badOption('callbackName', 'a JavaScript identifier');
    if (typeof callbackParam !== 'string') throw badOption('callbackParam', 'a string');
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw badOption('timeout', 'a number of ms >= 0');
    const g = globalThis as unknown as Record<string, unknown>;
    const script = document.createElement('script');
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const settle = (error: CometaError | null, data?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(data as T);
    };
    const fail = (
      code: 'ERR_JSONP_SCRIPT' | 'ERR_JSONP_NOT_CALLED' | 'ERR_TIMEOUT' | 'ERR_ABORTED',
      why: string,
    ) =>
      settle(
        new CometaError(
          code,
          `JSONP ${why} (${url})`,
          code === 'ERR_ABORTED' ? { cause: signal?.reason } : {},
        ),
      );
    // The script is done once load or error fires (the callback runs before load); only then is it
    // safe to delete the global: a late script after a timeout would otherwise throw a ReferenceError.
    const done = (code: 'ERR_JSONP_SCRIPT' | 'ERR_JSONP_NOT_CALLED', why: string) => () => {
      script.remove();
      delete g[name];
      fail(code, why);
    };
    const onAbort = () => fail('ERR_ABORTED', 'aborted');
    g[name] = (data: unknown) => settle(null, data);
    script.onload = done('ERR_JSONP_NOT_CALLED', 'script loaded but never called back');
    script.onerror = done('ERR_JSONP_SCRIPT', 'script failed to load');
    if (timeout) timer = setTimeout(() => fail('ERR_TIMEOUT', `timeout of ${timeout}ms exceeded`), timeout);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort);
    if (nonce) script.nonce = nonce;
    script.async = true;
    script.src = withQuery(withQuery(url, buildQuery(options.query)), buildQuery({ [callbackParam]: name }));
    document.head.appendChild(script);
  });
}
