import { createPublicKey, createSecretKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';

/** JWS algorithms the hub verifies. `none` and every other algorithm are always refused. */
export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';
const ALGORITHMS: readonly JwtAlgorithm[] = ['HS256', 'RS256', 'ES256'];

/**
 * Channel authentication with JWTs (see docs/security.md). Give exactly one of `key` or
 * `jwksFile`. With `auth` configured, every channel not made public in `options.channels` needs a
 * token granting it.
 * @example
 * createHub({
 *   auth: { key: process.env.COMETA_SECRET, issuer: 'https://app.example', audience: 'cometa' },
 *   channels: [{ pattern: 'public.**', subscribe: 'public' }],
 * });
 * // a token's payload: { "sub": "u1", "exp": …, "cometa": { "subscribe": ["scores.*"], "publish": ["chat.room1"] } }
 */
export interface AuthOptions {
  /**
   * The verification key: an HMAC secret string (HS256, at least 32 bytes), a PEM public key or
   * X.509 certificate (RS256/ES256), or a JWK object (`kty` `oct`, `RSA` or `EC` P-256).
   */
  key?: string | JWK;
  /**
   * Path of a JWKS file (`{"keys":[…]}`); tokens pick their key by `kid`. The file is re-read when
   * it changes (checked at most every 5 s), so keys rotate without a restart.
   */
  jwksFile?: string;
  /** Accepted algorithms. @default the algorithm of `key` (`HS256`, `RS256` or `ES256`); all three for a JWKS */
  algorithms?: JwtAlgorithm[];
  /** Required `iss` (one or any of several). @default no check */
  issuer?: string | string[];
  /** Required `aud` (one or any of several). @default no check */
  audience?: string | string[];
  /** Seconds of clock skew tolerated on `exp`/`nbf`/`iat`. @default 30 */
  clockTolerance?: number;
  /**
   * Refuse tokens without an `exp` claim (401, "the token has no expiry"). A token that never
   * expires is a credential that can never be taken back short of rotating the key; set `false`
   * only for tokens you can revoke another way (e.g. through `hub.authorize`).
   * @default true
   */
  requireExp?: boolean;
  /** Name of the cookie carrying the token (EventSource, same-site pages). @default 'cometa_token' */
  cookie?: string;
  /** The claim holding the grants. @default 'cometa' */
  claim?: string;
  /**
   * CSRF defences for requests authenticated by the cookie (docs/security.md). `origins`: the
   * origins allowed to change state (default: `cors.origins` without `*`, plus the hub's own);
   * `cookie`: the double-submit cookie compared with the `X-CSRF-Token` header.
   * @default { cookie: 'cometa_csrf' }
   */
  csrf?: { origins?: string[]; cookie?: string };
}

/** A verification key source, validated and loaded at construction. */
export type KeySource =
  | { kind: 'key'; key: KeyObject; algorithms: readonly JwtAlgorithm[] }
  | { kind: 'jwks'; path: string; algorithms: readonly JwtAlgorithm[] };

/** `options.auth` validated and with defaults filled in. */
export interface ResolvedAuth {
  readonly source: KeySource;
  readonly issuer: string | string[] | undefined;
  readonly audience: string | string[] | undefined;
  readonly clockTolerance: number;
  readonly requireExp: boolean;
  readonly cookie: string;
  readonly claim: string;
  readonly csrfOrigins: readonly string[] | undefined;
  readonly csrfCookie: string;
}

/** Raised for a bad `options.auth`; options.ts rethrows it as its OptionsError. */
export class AuthConfigError extends TypeError {}

const TOKEN_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

function algorithmOf(key: KeyObject, name: string): JwtAlgorithm {
  if (key.type === 'secret') {
    if ((key.symmetricKeySize ?? 0) < 32) {
      throw new AuthConfigError(`${name}: an HS256 secret must be at least 32 bytes (RFC 7518 §3.2)`);
    }
    return 'HS256';
  }
  if (key.asymmetricKeyType === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      throw new AuthConfigError(`${name}: an RS256 key must be at least 2048 bits`);
    }
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new AuthConfigError(`${name}: only HMAC secrets, RSA keys and EC P-256 keys are supported`);
}

function loadKey(key: unknown, name: string): KeyObject {
  if (typeof key === 'string') {
    const pem = key.trim();
    try {
      if (pem.startsWith('-----BEGIN CERTIFICATE-----')) return new X509Certificate(pem).publicKey;
      if (pem.startsWith('-----BEGIN')) {
        if (pem.includes('PRIVATE KEY')) {
          throw new AuthConfigError(`${name}: give the hub the PUBLIC key; it only verifies tokens`);
        }
        return createPublicKey(pem);
      }
    } catch (err) {
      if (err instanceof AuthConfigError) throw err;
      throw new AuthConfigError(`${name} is not a valid PEM public key: ${(err as Error).message}`);
    }
    return createSecretKey(Buffer.from(key, 'utf8'));
  }
  if (typeof key === 'object' && key !== null && typeof (key as JWK).kty === 'string') {
    const jwk = key as JWK;
    if (typeof jwk.d === 'string') {
      throw new AuthConfigError(`${name}: give the hub the PUBLIC JWK (no "d"); it only verifies tokens`);
    }
    try {
      if (jwk.kty === 'oct') {
        if (typeof jwk.k !== 'string') throw new Error('an oct JWK needs "k"');
        return createSecretKey(Buffer.from(jwk.k, 'base64url'));
      }
      return createPublicKey({ key: jwk as import('node:crypto').JsonWebKeyInput['key'], format: 'jwk' });
    } catch (err) {
      throw new AuthConfigError(`${name} is not a valid JWK: ${(err as Error).message}`);
    }
  }
  throw new AuthConfigError(`${name} must be a secret string, a PEM public key or a JWK object`);
}

/** Reads and validates a JWKS file (also used to reload it). */
export function readJwks(path: string): { keys: JWK[] } {
  const text = readFileSync(path, 'utf8');
  const jwks = JSON.parse(text) as { keys?: unknown };
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error('it has no "keys" array');
  for (const [i, k] of jwks.keys.entries()) {
    if (typeof k !== 'object' || k === null || typeof (k as JWK).kty !== 'string') {
      throw new Error(`keys[${i}] is not a JWK`);
    }
    if (typeof (k as JWK).d === 'string')
      throw new Error(`keys[${i}] is a private key; publish only public keys`);
  }
  return jwks as { keys: JWK[] };
}

function stringOrList(v: unknown, name: string): string | string[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' && v !== '') return v;
  if (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s !== '')) return [...v];
  throw new AuthConfigError(`${name} must be a non-empty string or array of strings`);
}

/** Validates `options.auth` (keys are loaded now, so a bad key fails at startup, not at the first request). */
export function resolveAuth(a: unknown): ResolvedAuth | null {
  if (a === undefined || a === null || a === false) return null;
  if (typeof a !== 'object') throw new AuthConfigError('options.auth must be an object');
  const o = a as AuthOptions;
  const known = new Set([
    'key',
    'jwksFile',
    'algorithms',
    'issuer',
    'audience',
    'clockTolerance',
    'requireExp',
    'cookie',
    'claim',
    'csrf',
  ]);
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new AuthConfigError(`options.auth.${k} is not a known option`);
  }
  if ((o.key === undefined) === (o.jwksFile === undefined)) {
    throw new AuthConfigError('options.auth needs exactly one of key or jwksFile');
  }
  let algorithms: readonly JwtAlgorithm[] | undefined;
  if (o.algorithms !== undefined) {
    if (
      !Array.isArray(o.algorithms) ||
      o.algorithms.length === 0 ||
      !o.algorithms.every((x) => ALGORITHMS.includes(x))
    ) {
      throw new AuthConfigError(
        `options.auth.algorithms must be a non-empty list of ${ALGORITHMS.join(', ')}`,
      );
    }
    algorithms = Object.freeze([...o.algorithms]);
  }
  let source: KeySource;
  if (o.key !== undefined) {
    const key = loadKey(o.key, 'options.auth.key');
    const alg = algorithmOf(key, 'options.auth.key');
    if (algorithms !== undefined && !algorithms.every((x) => x === alg)) {
      throw new AuthConfigError(`options.auth.algorithms: this key only verifies ${alg}`);
    }
    source = { kind: 'key', key, algorithms: algorithms ?? [alg] };
  } else {
    if (typeof o.jwksFile !== 'string' || o.jwksFile === '') {
      throw new AuthConfigError('options.auth.jwksFile must be a file path');
    }
    try {
      readJwks(o.jwksFile);
    } catch (err) {
      throw new AuthConfigError(`options.auth.jwksFile ${o.jwksFile}: ${(err as Error).message}`);
    }
    source = { kind: 'jwks', path: o.jwksFile, algorithms: algorithms ?? ALGORITHMS };
  }
  const clockTolerance = o.clockTolerance ?? 30;
  if (!Number.isInteger(clockTolerance) || clockTolerance < 0 || clockTolerance > 3600) {
    throw new AuthConfigError('options.auth.clockTolerance must be an integer from 0 to 3600 (seconds)');
  }
  const requireExp = o.requireExp ?? true;
  if (typeof requireExp !== 'boolean') throw new AuthConfigError('options.auth.requireExp must be a boolean');
  const cookie = o.cookie ?? 'cometa_token';
  if (typeof cookie !== 'string' || !TOKEN_NAME_RE.test(cookie)) {
    throw new AuthConfigError('options.auth.cookie must be a cookie name (RFC 6265 token)');
  }
  const claim = o.claim ?? 'cometa';
  if (typeof claim !== 'string' || claim === '')
    throw new AuthConfigError('options.auth.claim must be a claim name');
  const csrf = o.csrf ?? {};
  if (typeof csrf !== 'object' || csrf === null)
    throw new AuthConfigError('options.auth.csrf must be an object');
  let csrfOrigins: readonly string[] | undefined;
  if (csrf.origins !== undefined) {
    if (
      !Array.isArray(csrf.origins) ||
      !csrf.origins.every((s) => typeof s === 'string' && /^https?:\/\/[^/\s*]+$/.test(s))
    ) {
      throw new AuthConfigError('options.auth.csrf.origins must list exact origins like https://app.example');
    }
    csrfOrigins = Object.freeze([...csrf.origins]);
  }
  const csrfCookie = csrf.cookie ?? 'cometa_csrf';
  if (typeof csrfCookie !== 'string' || !TOKEN_NAME_RE.test(csrfCookie)) {
    throw new AuthConfigError('options.auth.csrf.cookie must be a cookie name (RFC 6265 token)');
  }
  return Object.freeze({
    source,
    issuer: stringOrList(o.issuer, 'options.auth.issuer'),
    audience: stringOrList(o.audience, 'options.auth.audience'),
    clockTolerance,
    requireExp,
    cookie,
    claim,
    csrfOrigins,
    csrfCookie,
  });
}
