import type { IncomingMessage } from 'node:http';
import type { HubCore } from '../core.js';
import { authActive, guardPublish, guardSubscribe } from '../http/auth.js';
import { HubError } from '../http/respond.js';
import { channelOfStream } from './bridge.js';

const READS = new Set(['GET', 'HEAD']);

/**
 * Access to a stream is access to its channel (bridge.ts: `answers/42` is `ds.answers.42`), under
 * the hub's `channels` policy, `auth` tokens and `hub.authorize()` hook: reads need the
 * `subscribe` grant, writes (PUT, POST, DELETE) the `publish` grant, with the CSRF defences and
 * the publish rate limits of every other write. A fork also reads its source. With access control
 * on, a stream whose path is not a channel name cannot be granted and is refused.
 */
export async function guardStream(
  core: HubCore,
  req: IncomingMessage,
  query: URLSearchParams,
  path: string,
  sourcePath: string | undefined,
  allowed: (origin: string) => boolean,
): Promise<void> {
  const method = req.method ?? 'GET';
  if (method === 'OPTIONS') return;
  const checked = authActive(core);
  const channel = channelOfStream(path);
  if (checked && channel === undefined) {
    throw new HubError('ERR_FORBIDDEN', 'with access control on, a stream path must map to a channel name');
  }
  if (READS.has(method)) {
    if (channel !== undefined) await guardSubscribe(core, req, query, [channel]);
    return;
  }
  // Without access control only the rate limits apply, which need no channel name.
  await guardPublish(core, req, query, channel ?? 'ds', { allowed });
  if (sourcePath !== undefined) {
    const source = channelOfStream(sourcePath);
    if (checked && source === undefined) {
      throw new HubError('ERR_FORBIDDEN', 'with access control on, a fork source must map to a channel name');
    }
    if (source !== undefined) await guardSubscribe(core, req, query, [source]);
  }
}
