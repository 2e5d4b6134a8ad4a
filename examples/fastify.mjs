// Mounting a cometa hub in a Fastify app, and publishing from application code.
//
//   npm install fastify        (and cometa itself as the README's "Install into your app" says)
//   node examples/fastify.mjs            (PORT=3000 by default)

import { createHub } from 'cometa';
import Fastify from 'fastify';

const hub = createHub({ prefix: '/live', store: process.env.COMETA_STORE ?? 'memory' });
const app = Fastify();

// The hub answers its own routes on the raw Node request/response. `reply.hijack()` tells
// Fastify the response is handled elsewhere (streams stay open long after this hook returns).
app.addHook('onRequest', (request, reply, done) => {
  if (request.url === '/live' || request.url.startsWith('/live/')) {
    reply.hijack();
    hub.handler(request.raw, reply.raw);
    return;
  }
  done();
});

// Application code publishes.
app.post('/api/orders', async (request, reply) => {
  const body = request.body ?? {};
  const id = await hub.publish(
    'orders.new',
    { item: String(body.item ?? ''), qty: Number(body.qty ?? 1) },
    { event: 'order' },
  );
  reply.code(201);
  return { ok: true, id };
});

app.get('/', async () => ({ hello: 'fastify' }));

await app.ready();
// WebSocket subscriptions arrive as upgrades on Fastify's server.
app.server.on('upgrade', hub.upgrade);
app.server.requestTimeout = 0;
await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`listening on http://127.0.0.1:${app.server.address().port}`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await hub.close();
    await app.close();
    process.exit(0);
  });
}
