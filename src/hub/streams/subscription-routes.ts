import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../http/body.js';
import type { StreamEngine } from './engine.js';
import { header } from './headers.js';
import {
  type AckRequest,
  type Answer,
  fail,
  LEASE_BOUNDS,
  MAX_LINKS,
  type SubscriptionInput,
  SubscriptionManager,
  trimSlashes,
} from './subscriptions.js';
import { webhookUrlProblem } from './webhook.js';

/** Bytes of one control request body (a subscription, an ack) at most. */
const MAX_CONTROL_BYTES = 64 * 1024;
/** Longest stream path, pattern, id or description a subscription accepts. */
const MAX_NAME = 1024;

const managers = new WeakMap<StreamEngine, SubscriptionManager>();

/** The engine's subscription manager, made on first use (a hub without subscriptions has none). */
function managerOf(engine: StreamEngine): SubscriptionManager {
  let m = managers.get(engine);
  if (m === undefined) {
    m = new SubscriptionManager(engine);
    managers.set(engine, m);
  }
  return m;
}

/** Ends the leases and retries of the engine's subscriptions (hub shutdown). */
export function stopSubscriptions(engine: StreamEngine): void {
  managers.get(engine)?.stop();
  managers.delete(engine);
}

/**
 * Serves `{mount}/__ds/…`: `subscriptions/{id}` (PUT, GET, DELETE), `…/streams` (POST),
 * `…/streams/{path}` (DELETE), `…/callback`, `…/claim`, `…/ack`, `…/release` (POST) and
 * `jwks.json` (GET). Errors carry the protocol's own codes (PROTOCOL.md 6-7), which its clients
 * match on.
 */
export async function handleControl(
  engine: StreamEngine,
  mountUrl: string,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  base: Record<string, string>,
  maxBodyBytes: number,
): Promise<void> {
  const answer = await route(engine, mountUrl, req, path, Math.min(maxBodyBytes, MAX_CONTROL_BYTES));
  const h: Record<string, string> = { ...base, 'Cache-Control': 'no-store' };
  if (answer.status === 204 || answer.body === undefined) {
    res.writeHead(answer.status, h);
    res.end();
    return;
  }
  const jwks = path === '__ds/jwks.json' && answer.status === 200;
  const text = JSON.stringify(answer.body);
  h['Content-Type'] = jwks ? 'application/jwk-set+json' : 'application/json';
  if (jwks) h['Cache-Control'] = 'public, max-age=300';
  h['Content-Length'] = String(Buffer.byteLength(text));
  res.writeHead(answer.status, h);
  res.end(text);
}

async function route(
  engine: StreamEngine,
  mountUrl: string,
  req: IncomingMessage,
  path: string,
  limit: number,
): Promise<Answer> {
  const method = req.method ?? 'GET';
  const parts = path.split('/');
  const m = managerOf(engine);
  if (path === '__ds/jwks.json') {
    return method === 'GET' ? { status: 200, body: m.signer.jwks() } : notAllowed();
  }
  const id = parts[2] ?? '';
  if (parts[1] !== 'subscriptions' || id === '' || id.length > MAX_NAME) {
    return fail(404, 'SUBSCRIPTION_NOT_FOUND', 'no such Durable Streams control route');
  }
  const action = parts[3];
  if (action === undefined) {
    if (method === 'GET') return m.get(id);
    if (method === 'DELETE') return m.delete(id);
    if (method !== 'PUT') return notAllowed();
    const body = await json(req, limit);
    if ('status' in body) return body;
    const input = parseInput(body.value);
    if (typeof input === 'string') return fail(400, 'INVALID_REQUEST', input);
    if (input.webhookUrl !== undefined) {
      const problem = webhookUrlProblem(input.webhookUrl);
      if (problem !== undefined) return fail(400, 'WEBHOOK_URL_REJECTED', problem);
    }
    return m.createOrConfirm(id, input, mountUrl);
  }
  if (action === 'streams') {
    if (parts.length > 4) {
      if (method !== 'DELETE') return notAllowed();
      return m.removeStream(id, trimSlashes(parts.slice(4).join('/')));
    }
    if (method !== 'POST') return notAllowed();
    const body = await json(req, limit);
    if ('status' in body) return body;
    const streams = (body.value as { streams?: unknown } | null)?.streams;
    const list = names(streams);
    if (list === undefined || list.length === 0) {
      return fail(400, 'INVALID_REQUEST', 'streams must be a non-empty array of stream paths');
    }
    return m.addStreams(id, list);
  }
  if (parts.length !== 4 || !['callback', 'claim', 'ack', 'release'].includes(action)) {
    return fail(404, 'SUBSCRIPTION_NOT_FOUND', 'no such Durable Streams control route');
  }
  if (method !== 'POST') return notAllowed();
  if (action === 'claim') {
    const body = await json(req, limit);
    if ('status' in body) return body;
    const worker = (body.value as { worker?: unknown } | null)?.worker;
    if (typeof worker !== 'string' || worker === '' || worker.length > MAX_NAME) {
      return fail(400, 'INVALID_REQUEST', 'worker must be a non-empty string');
    }
    return m.claim(id, worker);
  }
  const auth = header(req, 'authorization');
  const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : '';
  if (token === '') return fail(401, 'TOKEN_INVALID', 'a Bearer token is required');
  const body = await json(req, limit);
  if ('status' in body) return body;
  const ack = (typeof body.value === 'object' && body.value !== null ? body.value : {}) as AckRequest;
  if (action === 'callback') return m.callback(id, token, ack);
  if (action === 'ack') return m.ack(id, token, ack);
  return m.release(id, token, ack);
}

function notAllowed(): Answer {
  return fail(405, 'INVALID_REQUEST', 'this method is not served on this control route');
}

async function json(req: IncomingMessage, limit: number): Promise<{ value: unknown } | Answer> {
  let raw: Buffer;
  try {
    raw = await readBody(req, limit);
  } catch {
    return fail(413, 'INVALID_REQUEST', `a control request body is at most ${limit} bytes`);
  }
  try {
    return { value: JSON.parse(raw.toString('utf8')) as unknown };
  } catch {
    return fail(400, 'INVALID_REQUEST', 'the body is not JSON');
  }
}

/** Stream paths from a JSON value: strings of 1 to MAX_NAME characters, at most MAX_LINKS. */
function names(v: unknown): string[] | undefined {
  if (!Array.isArray(v) || v.length > MAX_LINKS) return undefined;
  const out: string[] = [];
  for (const s of v as unknown[]) {
    if (typeof s !== 'string') return undefined;
    const p = trimSlashes(s);
    if (p === '' || p.length > MAX_NAME || p.split('/')[0] === '__ds') return undefined;
    out.push(p);
  }
  return out;
}

/** A subscription's configuration from its PUT body, or why it is refused. */
function parseInput(v: unknown): SubscriptionInput | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'the body must be a JSON object';
  const o = v as Record<string, unknown>;
  if (o.type !== 'webhook' && o.type !== 'pull-wake') return 'type must be "webhook" or "pull-wake"';
  let pattern: string | undefined;
  if (typeof o.pattern === 'string' && o.pattern !== '') {
    pattern = trimSlashes(o.pattern);
    const segs = pattern.split('/');
    // Bounded so matching a path against it stays cheap (`**` backtracks).
    if (pattern.length > MAX_NAME || segs.length > 32 || segs.filter((s) => s === '**').length > 4) {
      return 'pattern is at most 1024 characters, 32 segments and 4 ** segments';
    }
  }
  const streams = o.streams === undefined ? [] : names(o.streams);
  if (streams === undefined) return `streams must be an array of at most ${MAX_LINKS} stream paths`;
  if (pattern === undefined && streams.length === 0) return 'a subscription needs a pattern or streams';
  const lease = o.lease_ttl_ms ?? LEASE_BOUNDS.default;
  if (
    typeof lease !== 'number' ||
    !Number.isInteger(lease) ||
    lease < LEASE_BOUNDS.min ||
    lease > LEASE_BOUNDS.max
  ) {
    return `lease_ttl_ms must be an integer from ${LEASE_BOUNDS.min} to ${LEASE_BOUNDS.max}`;
  }
  let webhookUrl: string | undefined;
  if (o.type === 'webhook') {
    const url = (o.webhook as { url?: unknown } | null | undefined)?.url;
    if (typeof url !== 'string' || url === '') return 'webhook subscriptions need webhook.url';
    webhookUrl = url;
  }
  let wakeStream: string | undefined;
  if (typeof o.wake_stream === 'string' && o.wake_stream !== '') {
    wakeStream = trimSlashes(o.wake_stream);
    if (wakeStream === '' || wakeStream.length > MAX_NAME || wakeStream.split('/')[0] === '__ds') {
      return 'wake_stream must be a stream path';
    }
  }
  if (o.type === 'pull-wake' && wakeStream === undefined) return 'pull-wake subscriptions need wake_stream';
  const description = o.description;
  if (description !== undefined && (typeof description !== 'string' || description.length > MAX_NAME)) {
    return 'description must be a string of at most 1024 characters';
  }
  return { type: o.type, pattern, streams, webhookUrl, wakeStream, leaseMs: lease, description };
}
