import { type ServerResponse, STATUS_CODES } from 'node:http';
import { ERROR_CODES, type ErrorCode, type HubErrorCode } from '../../protocol/errors.js';
import type { HubCore } from '../core.js';
import { StoreUnavailableError } from '../stores/store.js';

/** An error the hub answers as `{"error":{"code","message"}}` with the code's status. */
export class HubError extends Error {
  override readonly name = 'HubError';
  readonly code: HubErrorCode;
  readonly status: number;
  readonly headers: Record<string, string> | undefined;

  constructor(code: HubErrorCode, message: string, headers?: Record<string, string>) {
    super(message);
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.headers = headers;
  }
}

/** Type guard that also works for HubErrors from another copy of the module. */
export function isHubError(err: unknown): err is HubError {
  return err instanceof Error && err.name === 'HubError' && typeof (err as HubError).code === 'string';
}

/**
 * What a request that failed with `err` is answered: a HubError as itself, an unreachable store as
 * 503 `ERR_STORE_UNAVAILABLE` (counted), anything else as 500 `ERR_INTERNAL` (logged, never shown).
 * Shared by the router and the publish fast lane so both answer a failure the same way.
 */
export function describeError(
  core: HubCore,
  err: unknown,
): { code: HubErrorCode; message: string; headers: Record<string, string> | undefined } {
  if (isHubError(err)) return { code: err.code, message: err.message, headers: err.headers };
  if (err instanceof StoreUnavailableError) {
    core.stats.storeErrors++;
    return {
      code: 'ERR_STORE_UNAVAILABLE',
      message: `the ${core.store.kind} store cannot be reached; retry later`,
      headers: { 'Retry-After': '1' },
    };
  }
  core.log?.error({ err }, 'request failed');
  return { code: 'ERR_INTERNAL', message: 'internal error', headers: undefined };
}

/**
 * A failure as the raw-bytes answers of the fast lane write it: status, `base` headers with the
 * error's own (Retry-After...), and the cometa error body, the same as {@link sendError} sends.
 */
export function errorAnswer(
  core: HubCore,
  err: unknown,
  base: Record<string, string>,
): { status: number; headers: Record<string, string>; body: string } {
  const e = describeError(core, err);
  return {
    status: ERROR_CODES[e.code].status,
    headers: e.headers === undefined ? base : { ...base, ...e.headers },
    body: JSON.stringify({ error: { code: e.code, message: e.message } }),
  };
}

/** Answers with JSON. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): void {
  const text = JSON.stringify(body);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, bodyHeaders(headers, 'application/json; charset=utf-8', Buffer.byteLength(text)));
  res.end(text);
}

/** Answers with a cometa error body. */
export function sendError(
  res: ServerResponse,
  code: ErrorCode,
  message: string,
  headers?: Record<string, string>,
): void {
  sendJson(res, ERROR_CODES[code].status, { error: { code, message } }, headers);
}

/**
 * `extra` then `fixed` as a flat `[name, value, …]` list for `writeHead`. Node writes such a list
 * as is; an object spread per answer would build a new object (often a new hidden class) per
 * request on the hot publish and poll paths. As with a spread, `fixed` wins: an `extra` header of
 * the same name is left out rather than sent twice.
 */
export function headerList(extra: Record<string, string> | undefined, ...fixed: string[]): string[] {
  if (extra === undefined) return fixed;
  const list: string[] = [];
  for (const name in extra) if (!hasName(fixed, name)) list.push(name, extra[name]!);
  for (const v of fixed) list.push(v);
  return list;
}

/**
 * The headers of every complete cometa answer (JSON, JSONP, poll): `extra` (CORS, Retry-After…),
 * then type, length, `no-store` and `nosniff`, as a flat list (see {@link headerList}).
 */
export function bodyHeaders(
  extra: Record<string, string> | undefined,
  type: string,
  length: number,
): string[] {
  return headerList(
    extra,
    'Content-Type',
    type,
    'Content-Length',
    String(length),
    'Cache-Control',
    'no-store',
    'X-Content-Type-Options',
    'nosniff',
  );
}

function hasName(list: readonly string[], name: string): boolean {
  const lower = name.toLowerCase();
  for (let i = 0; i < list.length; i += 2) if (list[i]!.toLowerCase() === lower) return true;
  return false;
}

/**
 * A complete answer written straight to a socket, where no ServerResponse exists (refusals of
 * WebSocket upgrades, of requests Node's parser could not read, of CONNECT): the status line, the
 * given headers, `Date` (RFC 9110 §6.6.1: an origin server with a clock sends it), a cometa JSON
 * error body and `Connection: close` (the connection ends after it) unless `headers` has its own.
 */
export function rawErrorAnswer(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): string {
  const body = JSON.stringify({ error: { code, message } });
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  if (!('Connection' in headers)) head += 'Connection: close\r\n';
  return `${head}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nDate: ${new Date().toUTCString()}\r\n\r\n${body}`;
}
