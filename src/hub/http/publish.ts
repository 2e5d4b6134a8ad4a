import type { IncomingMessage, ServerResponse } from 'node:http';
import { parsePublishBody, readBody } from './body.js';
import { sendJson } from './respond.js';
import type { RouterHost } from './router.js';

/**
 * `/pub/{channel}`: POST publishes the body (202 `{"id","channel"}` once stored), GET answers
 * the channel's info, DELETE drops its history (subscribers get a `deleted` event).
 */
export async function handlePublishRoute(
  host: RouterHost,
  req: IncomingMessage,
  res: ServerResponse,
  channel: string,
  query: URLSearchParams,
  cors: Record<string, string>,
): Promise<void> {
  if (req.method === 'GET' || req.method === 'HEAD') {
    sendJson(res, 200, await host.info(channel), cors);
    return;
  }
  if (req.method === 'DELETE') {
    await host.drop(channel);
    sendJson(res, 200, { channel, deleted: true }, cors);
    return;
  }
  const body = await readBody(req, host.core.options.limits.maxBodyBytes);
  const data = await parsePublishBody(body, req.headers['content-type'], query.get('format'));
  const event = query.get('event');
  const id = await host.publish(channel, data, event === null ? {} : { event });
  sendJson(res, 202, { id, channel }, { ...cors, 'Cometa-Id': id });
}
