import {
  createHash,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  timingSafeEqual,
} from 'node:crypto';
import { isIP } from 'node:net';

/**
 * The signing side of Durable Streams webhooks (PROTOCOL.md 6): an Ed25519 key pair per hub process
 * (published as a JWKS), the `Webhook-Signature` header over `{t}.{body}`, the HMAC callback tokens
 * that fence a wake generation, and the rule for which webhook URLs the hub will call.
 */
export class WebhookSigner {
  readonly #key: KeyObject;
  readonly #tokenKey = randomBytes(32);
  readonly kid: string;
  readonly jwk: Record<string, string>;

  constructor() {
    const pair = generateKeyPairSync('ed25519');
    this.#key = pair.privateKey;
    const pub = pair.publicKey.export({ format: 'jwk' });
    const x = String(pub.x);
    // RFC 7638 thumbprint: the key's id is stable for the key and says nothing else.
    const thumb = createHash('sha256')
      .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
      .digest('base64url');
    this.kid = `ds_${thumb}`;
    this.jwk = { kty: 'OKP', crv: 'Ed25519', x, kid: this.kid, use: 'sig', alg: 'EdDSA' };
  }

  jwks(): { keys: Record<string, string>[] } {
    return { keys: [{ ...this.jwk }] };
  }

  /** `t={unix seconds},kid={kid},ed25519={base64url signature of "t.body"}`. */
  signature(body: string): string {
    const t = Math.floor(Date.now() / 1000);
    const sig = sign(null, Buffer.from(`${t}.${body}`), this.#key).toString('base64url');
    return `t=${t},kid=${this.kid},ed25519=${sig}`;
  }

  /** A bearer token for one subscription's wake generation, valid for an hour. */
  token(subject: string, generation: number): string {
    const payload = Buffer.from(
      JSON.stringify({ sub: subject, gen: generation, exp: Math.floor(Date.now() / 1000) + 3600 }),
    ).toString('base64url');
    return `${payload}.${this.#mac(payload)}`;
  }

  /** The generation a token was issued for, or the protocol's error code. */
  check(
    token: string,
    subject: string,
  ): { generation: number } | { code: 'TOKEN_INVALID' | 'TOKEN_EXPIRED' } {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 1024) return { code: 'TOKEN_INVALID' };
    const payload = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1));
    const want = Buffer.from(this.#mac(payload));
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return { code: 'TOKEN_INVALID' };
    let p: { sub?: unknown; gen?: unknown; exp?: unknown };
    try {
      p = JSON.parse(Buffer.from(payload, 'base64url').toString()) as typeof p;
    } catch {
      return { code: 'TOKEN_INVALID' };
    }
    if (p.sub !== subject || typeof p.gen !== 'number' || typeof p.exp !== 'number')
      return { code: 'TOKEN_INVALID' };
    if (Date.now() / 1000 > p.exp) return { code: 'TOKEN_EXPIRED' };
    return { generation: p.gen };
  }

  #mac(payload: string): string {
    return createHmac('sha256', this.#tokenKey).update(payload).digest('base64url');
  }
}

/**
 * Why the hub refuses to call a webhook URL, or undefined when it may: https to a public host, or
 * plain http to this machine's loopback (for development), as the reference server does. Private,
 * link-local and IPv6 literals are refused so a subscription cannot aim the hub at the network
 * behind it; the hub also never follows a redirect (webhook delivery uses `redirect: 'manual'`).
 */
export function webhookUrlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'webhook.url must be a valid URL';
  }
  if (raw.length > 2048) return 'webhook.url is longer than 2048 characters';
  if (url.username !== '' || url.password !== '') return 'webhook.url must not carry credentials';
  const host = url.hostname.toLowerCase();
  const loopback = host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (url.protocol === 'http:') {
    return loopback ? undefined : 'http webhook URLs are only allowed for localhost or 127.0.0.x';
  }
  if (url.protocol !== 'https:') return 'webhook.url must use https';
  if (host === 'localhost') return 'localhost webhook URLs must use http';
  if (isIP(host) === 4 && privateV4(host)) return 'webhook.url must not target private or link-local hosts';
  if (host.startsWith('[')) return 'IPv6 literal webhook hosts are not accepted';
  return undefined;
}

function privateV4(host: string): boolean {
  const [a = -1, b = -1] = host.split('.').map(Number);
  return (
    a === 10 ||
    a === 127 ||
    a === 0 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254) ||
    (a === 100 && b >= 64 && b <= 127)
  );
}

/** Whether stream path `path` matches glob `pattern`: `*` one segment, `**` any number of segments. */
export function globMatch(pattern: string, path: string): boolean {
  return matchFrom(segments(pattern), 0, segments(path), 0);
}

function segments(p: string): string[] {
  return p.split('/').filter((s) => s !== '');
}

function matchFrom(pat: string[], pi: number, path: string[], si: number): boolean {
  while (pi < pat.length && si < path.length) {
    const seg = pat[pi];
    if (seg === '**') {
      for (let i = si; i <= path.length; i++) if (matchFrom(pat, pi + 1, path, i)) return true;
      return false;
    }
    if (seg !== '*' && seg !== path[si]) return false;
    pi++;
    si++;
  }
  while (pi < pat.length && pat[pi] === '**') pi++;
  return pi === pat.length && si === path.length;
}
