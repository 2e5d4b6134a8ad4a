import { statSync } from 'node:fs';
import { createLocalJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { compilePattern, isChannelPattern } from '../../protocol/channel.js';
import { type ResolvedAuth, readJwks } from './config.js';

/** What a verified token grants: channel matchers per action. */
export interface Grants {
  readonly subscribe: readonly ((channel: string) => boolean)[];
  readonly publish: readonly ((channel: string) => boolean)[];
}

/** A verified token. */
export interface Claims {
  /** The whole verified payload (apps' `authorize` hooks read their own claims from it). */
  readonly payload: JWTPayload;
  readonly grants: Grants;
  /** When the token stops being valid (ms since epoch, clock tolerance included); 0: never. */
  readonly expiresAt: number;
  /** `payload.sub`, when it is a string (rate limits key on it). */
  readonly subject: string | undefined;
  /** `payload.csrf`: the session's CSRF token, compared with `X-CSRF-Token` (docs/security.md). */
  readonly csrf: string | undefined;
}

/** A token that cannot be accepted; `description` goes into `WWW-Authenticate` (never the token itself). */
export class TokenError extends Error {
  override readonly name = 'TokenError';
}

const ACTIONS = ['subscribe', 'publish'] as const;
const MAX_PATTERNS = 256;

/** Compiled patterns, shared by every token naming them (bounded: the set of distinct grants is small). */
const compiled = new Map<string, (channel: string) => boolean>();

function matcher(pattern: string): (channel: string) => boolean {
  let m = compiled.get(pattern);
  if (m === undefined) {
    m = compilePattern(pattern);
    if (compiled.size >= 4096) compiled.delete(compiled.keys().next().value as string);
    compiled.set(pattern, m);
  }
  return m;
}

/**
 * Reads the grants claim: `{"subscribe":["scores.*"],"publish":["chat.room1"]}`; `*` matches one
 * segment, `**` any number. A missing claim grants nothing; a malformed one makes the token invalid
 * (better a clear 401 than silently granting less or more than the issuer meant).
 */
export function parseGrants(payload: JWTPayload, claim: string): Grants {
  const raw = (payload as Record<string, unknown>)[claim];
  if (raw === undefined) return { subscribe: [], publish: [] };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new TokenError(`the "${claim}" claim must be an object`);
  }
  const out: { subscribe: ((c: string) => boolean)[]; publish: ((c: string) => boolean)[] } = {
    subscribe: [],
    publish: [],
  };
  for (const action of ACTIONS) {
    const list = (raw as Record<string, unknown>)[action];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length > MAX_PATTERNS) {
      throw new TokenError(
        `"${claim}.${action}" must be an array of at most ${MAX_PATTERNS} channel patterns`,
      );
    }
    for (const p of list) {
      if (typeof p !== 'string' || !isChannelPattern(p)) {
        throw new TokenError(`"${claim}.${action}" holds something that is not a channel pattern`);
      }
      out[action].push(matcher(p));
    }
  }
  return out;
}

/** True when the grants allow `action` on `channel`. */
export function granted(grants: Grants, action: 'subscribe' | 'publish', channel: string): boolean {
  for (const m of grants[action]) if (m(channel)) return true;
  return false;
}

const CACHE_MAX = 2048;

/**
 * Verifies tokens with jose. Verified tokens are cached by their exact text (bounded, oldest
 * evicted first) so a long-poll client that presents the same token every few seconds costs one
 * signature check, not one per poll; expiry is re-checked on every use.
 */
export class TokenVerifier {
  readonly #auth: ResolvedAuth;
  readonly #cache = new Map<string, Claims>();
  #jwks: JWTVerifyGetKey | undefined;
  #jwksMtime = 0;
  #jwksChecked = 0;

  constructor(auth: ResolvedAuth) {
    this.#auth = auth;
  }

  #key(): JWTVerifyGetKey | import('node:crypto').KeyObject {
    const src = this.#auth.source;
    if (src.kind === 'key') return src.key;
    const now = Date.now();
    if (this.#jwks === undefined || now - this.#jwksChecked > 5000) {
      this.#jwksChecked = now;
      try {
        const mtime = statSync(src.path).mtimeMs;
        if (this.#jwks === undefined || mtime !== this.#jwksMtime) {
          this.#jwks = createLocalJWKSet(readJwks(src.path));
          this.#jwksMtime = mtime;
          // Keys changed: a token cached under a removed key must be checked again.
          this.#cache.clear();
        }
      } catch (err) {
        // Keep the previous key set: a half-written file must not lock everyone out.
        if (this.#jwks === undefined)
          throw new TokenError(`the JWKS cannot be read: ${(err as Error).message}`);
      }
    }
    return this.#jwks!;
  }

  /** Verifies a token; throws TokenError with a description safe to show the client. */
  async verify(token: string): Promise<Claims> {
    const now = Date.now();
    const cached = this.#cache.get(token);
    if (cached !== undefined) {
      if (cached.expiresAt !== 0 && now >= cached.expiresAt) {
        this.#cache.delete(token);
        throw new TokenError('the token expired');
      }
      return cached;
    }
    if (token.length > 8192 || !/^[\w-]+\.[\w-]+\.[\w-]*$/.test(token)) {
      throw new TokenError('the token is not a compact JWS');
    }
    const a = this.#auth;
    let payload: JWTPayload;
    try {
      const key = this.#key();
      const opts = {
        algorithms: [...a.source.algorithms],
        clockTolerance: a.clockTolerance,
        ...(a.issuer !== undefined ? { issuer: a.issuer } : {}),
        ...(a.audience !== undefined ? { audience: a.audience } : {}),
      };
      payload =
        typeof key === 'function'
          ? (await jwtVerify(token, key, opts)).payload
          : (await jwtVerify(token, key, opts)).payload;
    } catch (err) {
      throw new TokenError(describe(err));
    }
    // jose checks `exp` only when present; without one the token would be valid forever.
    if (a.requireExp && typeof payload.exp !== 'number')
      throw new TokenError('the token has no expiry (exp)');
    const grants = parseGrants(payload, a.claim);
    const claims: Claims = {
      payload,
      grants,
      expiresAt: typeof payload.exp === 'number' ? (payload.exp + a.clockTolerance) * 1000 : 0,
      subject: typeof payload.sub === 'string' ? payload.sub : undefined,
      csrf: typeof payload.csrf === 'string' && payload.csrf !== '' ? payload.csrf : undefined,
    };
    if (this.#cache.size >= CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(token, claims);
    return claims;
  }
}

/** A short reason for WWW-Authenticate's error_description: no token text, no key material. */
function describe(err: unknown): string {
  if (err instanceof TokenError) return err.message;
  if (err instanceof errors.JWTExpired) return 'the token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `the "${err.claim}" claim check failed`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the token algorithm is not accepted';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key matches the token';
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return 'the token is malformed';
  return 'the token is invalid';
}
