import { createHash, randomBytes } from 'node:crypto';
import type { StreamEngine } from './engine.js';
import { ZERO_OFFSET } from './offset.js';
import { globMatch, WebhookSigner } from './webhook.js';

/**
 * The protocol's reserved subscription APIs (PROTOCOL.md 6-7, under `{prefix}/__ds/`): a
 * subscription watches streams (named, or matching a glob), and when one of them has data past
 * the subscription's acknowledged offset it "wakes" a consumer: a signed webhook POST, or a wake
 * event appended to a stream a pool of workers reads (pull-wake), who then claim the wake. A wake
 * has a generation; acks and releases carry its token and generation, so a consumer whose lease
 * lapsed is fenced off (409 FENCED) instead of acknowledging over its successor.
 *
 * Subscriptions live in the hub process that created them (not in the store): the streams they
 * watch are on any store and any hub (changes arrive through the storage's change feed), but a
 * hub restart forgets its subscriptions, and with several hubs the subscription's control
 * requests must reach the hub that holds it.
 */

/** Subscriptions one hub holds at most. */
export const MAX_SUBSCRIPTIONS = 1000;
/** Streams one subscription watches at most (named and matched together). */
export const MAX_LINKS = 1000;
const MIN_LEASE_MS = 1000;
const MAX_LEASE_MS = 600_000;
const DEFAULT_LEASE_MS = 30_000;
const MAX_RETRY_MS = 60_000;
/** How long a webhook receiver may take to answer, and how much of its answer is read. */
const WEBHOOK_TIMEOUT_MS = 10_000;
const WEBHOOK_ANSWER_BYTES = 64 * 1024;
const BEFORE_FIRST = '-1';

export interface SubscriptionInput {
  type: 'webhook' | 'pull-wake';
  pattern: string | undefined;
  streams: string[];
  webhookUrl: string | undefined;
  wakeStream: string | undefined;
  leaseMs: number;
  description: string | undefined;
}

interface Link {
  path: string;
  explicit: boolean;
  acked: string;
}

interface Subscription {
  id: string;
  input: SubscriptionInput;
  hash: string;
  createdAt: string;
  status: 'active' | 'failed';
  /** `{scheme}://{host}{mount}` of the request that created it, for callback and JWKS URLs. */
  base: string;
  links: Map<string, Link>;
  generation: number;
  wakeId: string | null;
  snapshot: Map<string, string>;
  token: string | null;
  holder: string | null;
  lease: NodeJS.Timeout | undefined;
  retries: number;
  retry: NodeJS.Timeout | undefined;
  deleted: boolean;
}

export interface StreamInfo {
  path: string;
  link_type: 'explicit' | 'glob';
  acked_offset: string;
  tail_offset: string;
  has_pending: boolean;
}

/** A protocol answer: status and JSON body (none for 204). */
export interface Answer {
  status: number;
  body?: unknown;
}

export function fail(status: number, code: string, message: string, extra?: Record<string, unknown>): Answer {
  return { status, body: { error: { code, message, ...extra } } };
}

/** The wake/ack body a consumer sends back. */
export interface AckRequest {
  wake_id?: unknown;
  generation?: unknown;
  acks?: unknown;
  done?: unknown;
}

export const LEASE_BOUNDS = { min: MIN_LEASE_MS, max: MAX_LEASE_MS, default: DEFAULT_LEASE_MS };

export class SubscriptionManager {
  readonly signer = new WebhookSigner();
  readonly #engine: StreamEngine;
  readonly #subs = new Map<string, Subscription>();
  /** Every change of state goes through this one queue, so events and requests never interleave. */
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(engine: StreamEngine) {
    this.#engine = engine;
    engine.storage.onChange((path) => {
      // Nothing to do (and nothing queued) for the common case of a hub without subscriptions.
      if (this.#subs.size === 0 || this.#stopped || path.split('/')[0] === '__ds') return;
      this.#serial(() => this.#changed(path)).catch(() => {});
    });
  }

  stop(): void {
    this.#stopped = true;
    for (const sub of this.#subs.values()) this.#forget(sub);
    this.#subs.clear();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  createOrConfirm(id: string, input: SubscriptionInput, base: string): Promise<Answer> {
    return this.#serial(async () => {
      const hash = configHash(input);
      const existing = this.#subs.get(id);
      if (existing !== undefined) {
        if (existing.hash !== hash) {
          return fail(
            409,
            'SUBSCRIPTION_ALREADY_EXISTS',
            'a subscription with this id and another configuration exists',
          );
        }
        return { status: 200, body: await this.#describe(existing) };
      }
      if (this.#subs.size >= MAX_SUBSCRIPTIONS) {
        return fail(409, 'INVALID_REQUEST', `this hub holds ${MAX_SUBSCRIPTIONS} subscriptions already`);
      }
      const sub: Subscription = {
        id,
        input,
        hash,
        createdAt: new Date().toISOString(),
        status: 'active',
        base,
        links: new Map(),
        generation: 0,
        wakeId: null,
        snapshot: new Map(),
        token: null,
        holder: null,
        lease: undefined,
        retries: 0,
        retry: undefined,
        deleted: false,
      };
      // Named streams start acknowledged at their current tail: a subscription wakes for what is
      // appended after it was made.
      for (const path of input.streams) await this.#link(sub, path, true, await this.#tail(path));
      this.#subs.set(id, sub);
      return { status: 201, body: await this.#describe(sub) };
    });
  }

  get(id: string): Promise<Answer> {
    return this.#serial(async () => {
      const sub = this.#subs.get(id);
      if (sub === undefined) return notFound();
      return { status: 200, body: await this.#describe(sub) };
    });
  }

  delete(id: string): Promise<Answer> {
    return this.#serial(async () => {
      const sub = this.#subs.get(id);
      if (sub !== undefined) {
        this.#forget(sub);
        this.#subs.delete(id);
      }
      return { status: 204 };
    });
  }

  addStreams(id: string, paths: string[]): Promise<Answer> {
    return this.#serial(async () => {
      const sub = this.#subs.get(id);
      if (sub === undefined) return notFound();
      const fresh = paths.filter((p) => !sub.links.has(p));
      if (sub.links.size + new Set(fresh).size > MAX_LINKS) {
        return fail(400, 'INVALID_REQUEST', `a subscription watches at most ${MAX_LINKS} streams`);
      }
      for (const path of paths) await this.#link(sub, path, true, await this.#tail(path));
      return { status: 204 };
    });
  }

  removeStream(id: string, path: string): Promise<Answer> {
    return this.#serial(async () => {
      const sub = this.#subs.get(id);
      if (sub === undefined) return notFound();
      const link = sub.links.get(path);
      if (link !== undefined) {
        link.explicit = false;
        const pattern = sub.input.pattern;
        if (pattern === undefined || !globMatch(pattern, path)) sub.links.delete(path);
      }
      return { status: 204 };
    });
  }

  /** A webhook consumer's callback: acks, lease extension, and `done` ending the wake. */
  callback(id: string, token: string, req: AckRequest): Promise<Answer> {
    return this.#serial(async () => {
      const sub = this.#subs.get(id);
      if (sub === undefined) return notFound();
      return this.#acknowledge(sub, token, req);
    });
  }

  claim(id: string, worker: string): Promise<Answer> {
    return this.#serial(async () => {
      const sub = this.#subs.get(id);
      if (sub === undefined) return notFound();
      if (sub.input.type !== 'pull-wake')
        return fail(400, 'INVALID_REQUEST', 'the subscription is not pull-wake');
      if (sub.holder !== null) {
        return fail(409, 'ALREADY_CLAIMED', 'another worker holds this wake', {
          current_holder: sub.holder,
          generation: sub.generation,
        });
      }
      const infos = await this.#infos(sub);
      const pending = infos.find((s) => s.has_pending);
      if (pending === undefined) return fail(409, 'NO_PENDING_WORK', 'the subscription has no pending work');
      if (sub.wakeId === null) await this.#wake(sub, pending.path, infos);
      sub.holder = worker;
      sub.token = this.signer.token(subject(sub), sub.generation);
      this.#extendLease(sub);
      return {
        status: 200,
        body: {
          wake_id: sub.wakeId,
          generation: sub.generation,
          token: sub.token,
          streams: await this.#infos(sub),
          lease_ttl_ms: sub.input.leaseMs,
        },
      };
    });
  }

  ack(id: string, token: string, req: AckRequest): Promise<Answer> {
    return this.#serial(async () => {
      const sub = this.#subs.get(id);
      if (sub === undefined) return notFound();
      if (sub.input.type !== 'pull-wake')
        return fail(400, 'INVALID_REQUEST', 'the subscription is not pull-wake');
      return this.#acknowledge(sub, token, req);
    });
  }

  release(id: string, token: string, req: AckRequest): Promise<Answer> {
    return this.#serial(async () => {
      const sub = this.#subs.get(id);
      if (sub === undefined) return notFound();
      if (sub.input.type !== 'pull-wake')
        return fail(400, 'INVALID_REQUEST', 'the subscription is not pull-wake');
      const fenced = this.#fence(sub, token, req);
      if (fenced !== undefined) return fenced;
      this.#endWake(sub);
      await this.#wakeIfPending(sub);
      return { status: 204 };
    });
  }

  async #acknowledge(sub: Subscription, token: string, req: AckRequest): Promise<Answer> {
    const fenced = this.#fence(sub, token, req);
    if (fenced !== undefined) return fenced;
    const refused = await this.#applyAcks(sub, req.acks);
    if (refused !== undefined) return refused;
    this.#extendLease(sub);
    let next = false;
    if (req.done === true) {
      this.#endWake(sub);
      next = await this.#wakeIfPending(sub);
    }
    return { status: 200, body: { ok: true, next_wake: next } };
  }

  #fence(sub: Subscription, token: string, req: AckRequest): Answer | undefined {
    const checked = this.signer.check(token, subject(sub));
    if ('code' in checked) {
      return fail(
        401,
        checked.code,
        checked.code === 'TOKEN_EXPIRED' ? 'the token expired' : 'the token is not valid',
      );
    }
    if (
      checked.generation !== sub.generation ||
      req.generation !== sub.generation ||
      req.wake_id !== sub.wakeId
    ) {
      return fail(409, 'FENCED', 'this wake generation is stale');
    }
    return undefined;
  }

  async #applyAcks(sub: Subscription, acks: unknown): Promise<Answer | undefined> {
    if (acks === undefined) return undefined;
    if (!Array.isArray(acks) || acks.length > MAX_LINKS)
      return fail(400, 'INVALID_REQUEST', 'acks must be an array');
    const plan: [Link, string][] = [];
    for (const raw of acks as unknown[]) {
      const a = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      const name = typeof a.stream === 'string' ? a.stream : typeof a.path === 'string' ? a.path : '';
      const link = sub.links.get(trimSlashes(name));
      const offset = a.offset;
      if (link === undefined)
        return fail(409, 'INVALID_OFFSET', 'an ack names a stream the subscription does not watch');
      if (typeof offset !== 'string' || offset === BEFORE_FIRST) {
        return fail(409, 'INVALID_OFFSET', 'an ack offset must be an offset the stream gave');
      }
      if (offset < link.acked) return fail(409, 'INVALID_OFFSET', 'an ack offset may not go back');
      if (offset > (await this.#tail(link.path)))
        return fail(409, 'INVALID_OFFSET', 'an ack offset is past the tail');
      plan.push([link, offset]);
    }
    for (const [link, offset] of plan) link.acked = offset;
    return undefined;
  }

  async #changed(path: string): Promise<void> {
    const exists = (await this.#engine.get(path)) !== undefined;
    for (const sub of this.#subs.values()) {
      if (!exists) {
        sub.links.delete(path);
        continue;
      }
      const pattern = sub.input.pattern;
      // A stream a pattern finds is watched from its start: its first data is what wakes.
      if (pattern !== undefined && !sub.links.has(path) && globMatch(pattern, path)) {
        if (sub.links.size >= MAX_LINKS) continue;
        await this.#link(sub, path, false, BEFORE_FIRST);
      }
      if (sub.links.has(path) && sub.wakeId === null && sub.holder === null)
        await this.#wakeIfPending(sub, path);
    }
  }

  async #link(sub: Subscription, path: string, explicit: boolean, acked: string): Promise<void> {
    const link = sub.links.get(path);
    if (link !== undefined) {
      if (explicit) link.explicit = true;
      return;
    }
    sub.links.set(path, { path, explicit, acked });
  }

  async #wakeIfPending(sub: Subscription, prefer?: string): Promise<boolean> {
    const infos = await this.#infos(sub);
    const pending = infos.find((s) => s.path === prefer && s.has_pending) ?? infos.find((s) => s.has_pending);
    if (pending === undefined) return false;
    await this.#wake(sub, pending.path, infos);
    return true;
  }

  async #wake(sub: Subscription, trigger: string, infos: StreamInfo[]): Promise<void> {
    sub.generation++;
    sub.wakeId = `w_${randomBytes(12).toString('hex')}`;
    sub.snapshot = new Map(infos.map((s) => [s.path, s.tail_offset]));
    if (sub.input.type === 'webhook') {
      sub.token = this.signer.token(subject(sub), sub.generation);
      this.#extendLease(sub);
      void this.#deliver(sub, sub.generation, infos);
      return;
    }
    const wakeStream = sub.input.wakeStream;
    if (wakeStream === undefined) return;
    const event = {
      type: 'wake',
      subscription_id: sub.id,
      stream: trigger,
      generation: sub.generation,
      ts: Date.now(),
    };
    try {
      const meta = await this.#engine.get(wakeStream);
      if (meta === undefined) return;
      await this.#engine.append(wakeStream, {
        contentType: meta.contentType,
        body: Buffer.from(JSON.stringify(event)),
        close: false,
        streamSeq: undefined,
        producer: undefined,
      });
    } catch {
      // A wake stream that is gone or closed: workers can still claim (the wake stays open).
    }
  }

  /** POSTs the wake to the webhook; runs outside the queue, its outcome comes back through it. */
  async #deliver(sub: Subscription, generation: number, infos: StreamInfo[]): Promise<void> {
    const url = sub.input.webhookUrl;
    if (url === undefined || sub.wakeId === null || sub.token === null) return;
    const body = JSON.stringify({
      subscription_id: sub.id,
      wake_id: sub.wakeId,
      generation,
      streams: infos,
      callback_url: `${sub.base}/__ds/subscriptions/${encodeURIComponent(sub.id)}/callback`,
      callback_token: sub.token,
    });
    let answer: unknown;
    let ok = false;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'webhook-signature': this.signer.signature(body) },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      ok = res.status >= 200 && res.status < 300;
      answer = ok ? await boundedJson(res) : undefined;
      if (!ok) await res.body?.cancel();
    } catch {
      ok = false;
    }
    await this.#serial(async () => {
      if (sub.deleted || this.#stopped || sub.generation !== generation) return;
      if (!ok) {
        this.#scheduleRetry(sub, generation, infos);
        return;
      }
      sub.status = 'active';
      sub.retries = 0;
      if ((answer as { done?: unknown } | undefined)?.done === true) {
        // A synchronous `done`: the receiver handled everything the wake showed it.
        for (const [path, tail] of sub.snapshot) {
          const link = sub.links.get(path);
          if (link !== undefined && tail > link.acked) link.acked = tail;
        }
        this.#endWake(sub);
        await this.#wakeIfPending(sub);
      }
    });
  }

  #scheduleRetry(sub: Subscription, generation: number, infos: StreamInfo[]): void {
    sub.retries++;
    sub.status = 'failed';
    const base = Math.min(1000 * 2 ** Math.min(sub.retries - 1, 16), MAX_RETRY_MS);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    clearTimeout(sub.retry);
    sub.retry = setTimeout(() => {
      sub.retry = undefined;
      if (!sub.deleted && !this.#stopped && sub.generation === generation)
        void this.#deliver(sub, generation, infos);
    }, delay);
    sub.retry.unref();
  }

  #extendLease(sub: Subscription): void {
    clearTimeout(sub.lease);
    const generation = sub.generation;
    sub.lease = setTimeout(() => {
      this.#serial(async () => {
        // The consumer let its lease lapse: the wake ends, and a new one (next generation) starts.
        if (sub.deleted || this.#stopped || sub.generation !== generation) return;
        this.#endWake(sub);
        await this.#wakeIfPending(sub);
      }).catch(() => {});
    }, sub.input.leaseMs);
    sub.lease.unref();
  }

  #endWake(sub: Subscription): void {
    clearTimeout(sub.lease);
    sub.lease = undefined;
    sub.token = null;
    sub.holder = null;
    sub.wakeId = null;
    sub.snapshot.clear();
  }

  #forget(sub: Subscription): void {
    sub.deleted = true;
    clearTimeout(sub.lease);
    clearTimeout(sub.retry);
  }

  async #tail(path: string): Promise<string> {
    const meta = await this.#engine.get(path);
    return meta === undefined || meta.softDeleted ? ZERO_OFFSET : meta.tail;
  }

  async #infos(sub: Subscription): Promise<StreamInfo[]> {
    const out: StreamInfo[] = [];
    for (const link of sub.links.values()) {
      const tail = await this.#tail(link.path);
      out.push({
        path: link.path,
        link_type: link.explicit ? 'explicit' : 'glob',
        acked_offset: link.acked,
        tail_offset: tail,
        has_pending: tail > link.acked,
      });
    }
    return out;
  }

  async #describe(sub: Subscription): Promise<Record<string, unknown>> {
    const i = sub.input;
    const infos = await this.#infos(sub);
    return {
      id: sub.id,
      subscription_id: sub.id,
      type: i.type,
      pattern: i.pattern,
      streams: infos.map((s) => ({ path: s.path, link_type: s.link_type, acked_offset: s.acked_offset })),
      webhook:
        i.webhookUrl === undefined
          ? undefined
          : {
              url: i.webhookUrl,
              signing: { alg: 'ed25519', kid: this.signer.kid, jwks_url: `${sub.base}/__ds/jwks.json` },
            },
      wake_stream: i.wakeStream,
      lease_ttl_ms: i.leaseMs,
      created_at: sub.createdAt,
      status: sub.status,
      description: i.description,
    };
  }
}

function notFound(): Answer {
  return fail(404, 'SUBSCRIPTION_NOT_FOUND', 'no subscription with this id');
}

function subject(sub: Subscription): string {
  return `subscription:${sub.id}`;
}

export function trimSlashes(path: string): string {
  return path.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** Identical configurations confirm a subscription (200); any difference is a conflict. */
function configHash(i: SubscriptionInput): string {
  const canonical = {
    type: i.type,
    pattern: i.pattern,
    streams: [...new Set(i.streams)].sort(),
    webhook: i.webhookUrl,
    wake_stream: i.wakeStream,
    lease_ttl_ms: i.leaseMs,
    description: i.description,
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/** The receiver's JSON answer (for `done`), read up to a bound; anything else is no answer. */
async function boundedJson(res: Response): Promise<unknown> {
  const reader = res.body?.getReader();
  if (reader === undefined) return undefined;
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > WEBHOOK_ANSWER_BYTES) {
      await reader.cancel();
      return undefined;
    }
    parts.push(value);
  }
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch {
    return undefined;
  }
}
