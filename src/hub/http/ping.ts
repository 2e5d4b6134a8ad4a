import type { IncomingMessage, ServerResponse } from 'node:http';
import { isChannelName } from '../../protocol/channel.js';
import { fieldsOf, parsePublishBody, readBody } from './body.js';
import { alreadyReadBody } from './parsed-body.js';
import { isHubError } from './respond.js';
import type { RouterHost } from './router.js';

/**
 * A 1×1 transparent GIF, 43 bytes: the smallest image every browser decodes and fires `load` for.
 * Header, a 2-colour global table, a graphic control extension marking colour 0 transparent, one
 * image descriptor and a complete LZW stream (clear, pixel 0, end: `02 02 44 01 00`), then the trailer.
 */
export const PIXEL_GIF: Buffer = Buffer.from([
  // "GIF89a", 1×1 logical screen, global colour table of 2 entries
  0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00,
  // colour table: black, white
  0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
  // graphic control extension: transparent colour index 0
  0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00,
  // image descriptor: at 0,0, 1×1, no local table
  0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
  // image data: LZW minimum code size 2, one 2-byte sub-block, terminator; trailer
  0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
]);

/** True when the request says it takes an image (an `<img>` sends `Accept: image/avif,…,image/*,…`). */
export function acceptsImage(req: IncomingMessage): boolean {
  return /(^|[\s,])image\//i.test(req.headers.accept ?? '');
}

/**
 * Answers a ping: the GIF when the request accepts images (so `<img>.onload` fires), else 204.
 * Never cached (each ping must reach the hub); `Cross-Origin-Resource-Policy: cross-origin` lets
 * pages with `Cross-Origin-Embedder-Policy: require-corp` load it.
 */
function answer(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>): void {
  const common = {
    ...cors,
    'Cache-Control': 'no-store',
    'Cross-Origin-Resource-Policy': 'cross-origin',
  };
  if (acceptsImage(req)) {
    res.writeHead(200, {
      ...common,
      'Content-Type': 'image/gif',
      'Content-Length': String(PIXEL_GIF.length),
    });
    res.end(req.method === 'HEAD' ? undefined : PIXEL_GIF);
  } else {
    res.writeHead(204, common);
    res.end();
  }
}

/**
 * `GET /ping/{channel}?k=v&…` (an image ping) and `POST /ping/{channel}` (a beacon: an urlencoded,
 * multipart or `?format=json|form` text body, merged after the query's fields): publishes the fields
 * as an object (repeated names become arrays) to the channel when its policy allows pings
 * (`options.channels` rule with `ping: true`).
 *
 * The answer is the same whether the ping was published or refused (the GIF, or 204): an `<img>`
 * cannot read it anyway, and a uniform answer tells a probing page nothing. A refused ping (no
 * policy, a bad channel name, an Origin not in `cors.origins`, a body that is not fields) publishes
 * nothing, increments `core.stats.pingsRefused` and logs `ping refused` with the reason. A store
 * failure is not a refusal: it is answered as the usual JSON 503 (an `<img>` then fires `error`).
 */
export async function handlePing(
  host: RouterHost,
  req: IncomingMessage,
  res: ServerResponse,
  rawChannel: string,
  query: URLSearchParams,
  cors: Record<string, string>,
  originAllowed: boolean,
): Promise<void> {
  const core = host.core;
  const refuse = (reason: string) => {
    core.stats.pingsRefused++;
    core.log?.info({ channel: rawChannel.slice(0, 200), origin: req.headers.origin, reason }, 'ping refused');
    answer(req, res, cors);
  };
  // HEAD: the answer's head only; it publishes nothing (a HEAD changes nothing, RFC 9110 §9.3.2).
  if (req.method === 'HEAD') return answer(req, res, cors);
  const channel = rawChannel;
  if (!isChannelName(channel)) return refuse('bad channel name');
  const policy = core.options.channelPolicy(channel);
  if (!policy.ping) return refuse('pings are not enabled for this channel (options.channels ping)');
  // An <img> sends no Origin; a fetch or beacon does, and then it must be an allowed one.
  if (!originAllowed) return refuse('origin not in cors.origins');
  let fields: Record<string, unknown> = fieldsOf(query);
  if (req.method === 'POST') {
    let body: unknown;
    try {
      const limits = core.options.limits;
      const type = req.headers['content-type'];
      // An app's body parser may have read the body already (it would never arrive here again).
      const taken = await alreadyReadBody(req, type, query.get('format'), limits, core.log);
      if (taken !== undefined) body = taken.data;
      else {
        const raw = await readBody(req, limits.maxBodyBytes);
        body = raw.length === 0 ? {} : await parsePublishBody(raw, type, query.get('format'), limits);
      }
    } catch (err) {
      if (isHubError(err)) {
        // The rest of an oversized body would be read as the next request.
        if (err.code === 'ERR_BODY_TOO_LARGE') res.shouldKeepAlive = false;
        return refuse(`body refused: ${err.code}`);
      }
      throw err;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return refuse('the body is not fields (send urlencoded, multipart or a JSON object)');
    }
    fields = mergeFields(fields, body as Record<string, unknown>);
  }
  await host.publish(channel, fields);
  answer(req, res, cors);
}

/** The query's fields, then the body's: a name in both becomes an array of all values. */
function mergeFields(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = Object.assign(Object.create(null), a);
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else out[k] = [...(Array.isArray(prev) ? prev : [prev]), ...(Array.isArray(v) ? v : [v])];
  }
  return { ...out };
}
