/**
 * The Durable Streams subscription APIs beyond what the conformance suite checks: off unless
 * `streams.subscriptions`, webhook URLs aimed at the network behind the hub refused, redirects
 * never followed, and a lapsed lease waking a new generation that fences the old token.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startHub, type TestHub, waitFor } from '../helpers/hub.js';

interface Hit {
  path: string;
  body: string;
}

async function receiver(
  answer: (req: IncomingMessage) => { status: number; headers?: Record<string, string> },
) {
  const hits: Hit[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      hits.push({ path: req.url ?? '', body });
      const a = answer(req);
      res.writeHead(a.status, a.headers);
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const json = { 'content-type': 'application/json' };

describe('Durable Streams subscriptions', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ streams: { subscriptions: true } });
  });
  after(() => t.close());

  test('the __ds paths answer 404 unless streams.subscriptions is on', async () => {
    const off = await startHub();
    try {
      const res = await fetch(`${off.url}/v1/stream/__ds/subscriptions/a`, {
        method: 'PUT',
        headers: json,
        body: JSON.stringify({ type: 'pull-wake', pattern: 'x/*', wake_stream: 'w' }),
      });
      assert.equal(res.status, 404);
    } finally {
      await off.close();
    }
  });

  test('webhook URLs to private, link-local, CGNAT or IPv6 hosts, or plain http elsewhere, are refused', async () => {
    for (const url of [
      'https://10.1.2.3/h',
      'https://192.168.0.1/h',
      'https://169.254.169.254/latest',
      'https://100.64.0.1/h',
      'https://[::1]/h',
      'http://example.com/h',
      'ftp://example.com/h',
      'https://user:pw@example.com/h',
    ]) {
      const res = await fetch(`${t.url}/v1/stream/__ds/subscriptions/bad`, {
        method: 'PUT',
        headers: json,
        body: JSON.stringify({ type: 'webhook', pattern: 'x/*', webhook: { url } }),
      });
      assert.equal(res.status, 400, url);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'WEBHOOK_URL_REJECTED', url);
    }
  });

  test('a webhook redirect is not followed', async () => {
    const target = await receiver(() => ({ status: 200 }));
    const hook = await receiver(() => ({ status: 307, headers: { location: `${target.url}/stolen` } }));
    try {
      const create = await fetch(`${t.url}/v1/stream/__ds/subscriptions/redir`, {
        method: 'PUT',
        headers: json,
        body: JSON.stringify({ type: 'webhook', pattern: 'redir/*', webhook: { url: `${hook.url}/h` } }),
      });
      assert.equal(create.status, 201);
      await fetch(`${t.url}/v1/stream/redir/a`, { method: 'PUT', headers: json, body: '[1]' });
      await waitFor(() => hook.hits.length > 0, 5000, 'webhook delivery');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(target.hits.length, 0);
      const sub = (await (await fetch(`${t.url}/v1/stream/__ds/subscriptions/redir`)).json()) as {
        status: string;
      };
      assert.equal(sub.status, 'failed');
    } finally {
      await fetch(`${t.url}/v1/stream/__ds/subscriptions/redir`, { method: 'DELETE' });
      await hook.close();
      await target.close();
    }
  });

  test('a lapsed lease wakes a new generation and fences the old token', async () => {
    const hook = await receiver(() => ({ status: 200 }));
    try {
      await fetch(`${t.url}/v1/stream/__ds/subscriptions/lease`, {
        method: 'PUT',
        headers: json,
        body: JSON.stringify({
          type: 'webhook',
          pattern: 'lease/*',
          webhook: { url: `${hook.url}/h` },
          lease_ttl_ms: 1000,
        }),
      });
      await fetch(`${t.url}/v1/stream/lease/a`, { method: 'PUT', headers: json, body: '[1]' });
      await waitFor(() => hook.hits.length >= 2, 5000, 'a second wake after the lease lapsed');
      const first = JSON.parse(hook.hits[0]!.body) as Record<string, unknown>;
      const second = JSON.parse(hook.hits[1]!.body) as Record<string, unknown>;
      assert.equal(second.generation, (first.generation as number) + 1);
      const stale = await fetch(String(first.callback_url), {
        method: 'POST',
        headers: { ...json, authorization: `Bearer ${String(first.callback_token)}` },
        body: JSON.stringify({ wake_id: first.wake_id, generation: first.generation, done: true }),
      });
      assert.equal(stale.status, 409);
      const fresh = await fetch(String(second.callback_url), {
        method: 'POST',
        headers: { ...json, authorization: `Bearer ${String(second.callback_token)}` },
        body: JSON.stringify({ wake_id: second.wake_id, generation: second.generation, done: true }),
      });
      assert.equal(fresh.status, 200);
    } finally {
      await fetch(`${t.url}/v1/stream/__ds/subscriptions/lease`, { method: 'DELETE' });
      await hook.close();
    }
  });
});
