// Options: validated once where they enter (request() or create()), merged with create() defaults,
// then resolved into the RequestConfig that hooks and transports use.
import { badOption } from './errors.js';
import { buildQuery, withQuery } from './query.js';
import type { HeadersOption, Hooks, RequestConfig, RequestOptions } from './types.js';

// What options (and those of `retry` and `hooks`) must be: a `typeof`, then the options of that type.
// An option in two lists may be either. Numbers must be >= 0 and finite, objects not null.
const KINDS = [
  'string method baseURL mimeType responseType query',
  'object headers query signal hooks retry methods statusCodes beforeRequest afterResponse beforeError',
  'number timeout retry limit delay backoffLimit maxRetryAfter',
  'function onUploadProgress onDownloadProgress validateStatus',
  'boolean withCredentials',
].map((line) => line.split(' '));
const HOOKS = ['beforeRequest', 'afterResponse', 'beforeError'] as const;

function check(options: object, prefix: string): void {
  for (const [name, v] of Object.entries(options)) {
    const kinds = KINDS.filter((line) => line.includes(name, 1)).map((line) => line[0]!);
    const type = typeof v;
    if (
      v !== undefined &&
      kinds[0] &&
      (v === null || !kinds.includes(type) || (type === 'number' && !(v >= 0 && v < Infinity)))
    ) {
      throw badOption(prefix + name, kinds.join(' or ').replace('number', 'number >= 0'));
    }
    if (/^(retry|hooks)$/.test(name) && type === 'object') check(v, `${name}.`);
  }
}

/** Throws ERR_BAD_OPTION naming the first invalid option; returns the options. */
export function validate(o: RequestOptions): RequestOptions {
  if (typeof o !== 'object' || !o) throw badOption('options', 'object');
  check(o, '');
  if (o.responseType && !/^(auto|json|text|xml|blob|arraybuffer)$/.test(o.responseType)) {
    throw badOption('responseType', 'auto|json|text|xml|blob|arraybuffer');
  }
  return o;
}

const lower = (h: HeadersOption | undefined): Record<string, string | null | undefined> => {
  const out: Record<string, string | null | undefined> = {};
  if (h instanceof Headers) {
    h.forEach((v, k) => {
      out[k] = v;
    });
  } else for (const k in h) out[k.toLowerCase()] = h[k];
  return out;
};

/**
 * `options` over `defaults` (undefined values do not override): headers merged by lower-cased name,
 * hooks concatenated, defaults' first.
 */
export function merge(defaults: RequestOptions, options: RequestOptions): RequestOptions {
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  const hooks: Hooks = {};
  const d = defaults.hooks || {};
  const o = options.hooks || {};
  for (const name of HOOKS) hooks[name] = [...(d[name] || []), ...(o[name] || [])] as never;
  return { ...out, headers: { ...lower(defaults.headers), ...lower(options.headers) }, hooks };
}

/** Resolves merged options (see {@link merge}) into the config of one request. */
export function toConfig(url: string, o: RequestOptions): RequestConfig {
  const headers: Record<string, string> = {};
  const h = o.headers as Record<string, string | null | undefined>;
  for (const k in h) if (h[k] != null) headers[k] = h[k]!;
  const base = o.baseURL;
  if (base && !/^([a-z][a-z\d+.-]*:)?\/\//i.test(url))
    url = `${base.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}`;
  return {
    responseType: 'auto',
    timeout: 0,
    validateStatus: (s: number) => (s >= 200 && s < 300) || s === 304,
    ...o,
    url: withQuery(url, buildQuery(o.query)),
    method: (o.method || 'GET').toUpperCase(),
    headers,
    withCredentials: !!o.withCredentials,
    // A signal that never aborts stands in for none, so that transports need no checks.
    signal: o.signal || new AbortController().signal,
    retry: {
      limit: 2,
      methods: ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'],
      statusCodes: [408, 413, 429, 500, 502, 503, 504],
      delay: 300,
      backoffLimit: 30000,
      maxRetryAfter: 60000,
      ...(typeof o.retry === 'object' ? o.retry : { limit: o.retry || 0 }),
    },
  } as RequestConfig;
}
