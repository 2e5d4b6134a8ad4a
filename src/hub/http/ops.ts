import type { IncomingMessage, ServerResponse } from 'node:http';
import { isChannelName } from '../../protocol/channel.js';
import type { HubCore } from '../core.js';
import type { HubMetrics } from '../metrics.js';
import { HubError, sendJson } from './respond.js';

/** Largest body the demo upload sink accepts. */
export const DEMO_UPLOAD_MAX_BYTES = 64 << 20;
/** Default pace of the demo upload sink, so a progress bar is visible even on localhost. */
const DEMO_UPLOAD_BYTES_PER_SEC = 8 << 20;

/**
 * Operational and demo routes:
 * - `GET /metrics`: Prometheus text format (option `metrics`);
 * - `POST /demo/kick?channel=demo.X`: ends every subscriber of a `demo.*` channel with reason
 *   `kicked` (demo mode only), so the demo page can show a dropped connection resuming without loss;
 * - `POST /demo/upload`: a sink that reads and discards a body of up to 64 MiB at a bounded pace
 *   (`?bps=`, default 8 MiB/s) and answers `{bytes, ms}` (demo mode only), for the upload progress bar.
 *
 * Returns false when the path is none of these.
 */
export async function handleOpsRoute(
  core: HubCore,
  metrics: HubMetrics | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
  cors: Record<string, string>,
): Promise<boolean> {
  const method = req.method ?? 'GET';
  if (path === '/metrics' && metrics !== undefined) {
    if (method !== 'GET' && method !== 'HEAD') {
      throw new HubError('ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on /metrics`, {
        Allow: 'GET, HEAD',
      });
    }
    const body = await metrics.metrics();
    res.writeHead(200, {
      'Content-Type': metrics.contentType,
      'Content-Length': String(Buffer.byteLength(body)),
      'Cache-Control': 'no-store',
    });
    res.end(method === 'HEAD' ? undefined : body);
    return true;
  }
  if (!core.options.demo || (path !== '/demo/kick' && path !== '/demo/upload')) return false;
  if (method !== 'POST') {
    throw new HubError('ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, { Allow: 'POST' });
  }
  if (path === '/demo/kick') {
    // Guarded: only demo mode has the route, only demo.* channels can be named (each demo page
    // subscribes to its own demo.page-{random} channel), so no other subscription can be ended.
    const channel = query.get('channel') ?? '';
    if (!isChannelName(channel) || !channel.startsWith('demo.')) {
      throw new HubError('ERR_BAD_PARAM', '?channel= must name a demo.* channel');
    }
    let kicked = 0;
    for (const sub of [...core.subscribers]) {
      if (sub.channels.includes(channel)) {
        sub.end('kicked');
        kicked++;
      }
    }
    core.log?.info({ channel, kicked }, 'demo: subscribers kicked');
    sendJson(res, 200, { channel, kicked }, cors);
    return true;
  }
  const bps = Number(query.get('bps') ?? DEMO_UPLOAD_BYTES_PER_SEC);
  if (!Number.isFinite(bps) || bps < 1024) throw new HubError('ERR_BAD_PARAM', '?bps= must be at least 1024');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > DEMO_UPLOAD_MAX_BYTES) {
    throw new HubError(
      'ERR_BODY_TOO_LARGE',
      `the demo upload sink takes at most ${DEMO_UPLOAD_MAX_BYTES} bytes`,
    );
  }
  const started = Date.now();
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > DEMO_UPLOAD_MAX_BYTES) {
      throw new HubError(
        'ERR_BODY_TOO_LARGE',
        `the demo upload sink takes at most ${DEMO_UPLOAD_MAX_BYTES} bytes`,
      );
    }
    // Reading slower than loopback speed makes the browser's upload progress visible.
    const due = started + (bytes / bps) * 1000;
    const wait = due - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
  sendJson(res, 200, { bytes, ms: Date.now() - started, type: req.headers['content-type'] ?? null }, cors);
  return true;
}
