import { createHub, type Hub, type HubOptions } from '../../src/hub/index.js';

/** A hub listening on an ephemeral loopback port, with its base URL. */
export interface TestHub {
  hub: Hub;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts a real hub on 127.0.0.1:0 (memory store and no logs unless overridden). */
export async function startHub(options: HubOptions = {}): Promise<TestHub> {
  const hub = createHub({ store: 'memory', logger: false, ...options });
  const address = await hub.listen(0, '127.0.0.1');
  return {
    hub,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    close: () => hub.close(),
  };
}

/** Publishes over HTTP and returns the id. */
export async function publish(base: string, channel: string, data: unknown, event?: string): Promise<string> {
  const url = `${base}/pub/${channel}${event ? `?event=${event}` : ''}`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(data),
  });
  const body = (await res.json()) as { id: string };
  if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${JSON.stringify(body)}`);
  return body.id;
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` until true or throws after `timeout` ms. */
export async function waitFor(cond: () => boolean, timeout = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
