// Mounting a cometa hub in an Express app, and publishing from application code.
//
//   npm install express        (and cometa itself as the README's "Install into your app" says)
//   node examples/express.mjs            (PORT=3000 by default)
//
// Browsers subscribe at /live/sub/{channels} (any transport, WebSocket included) and the app
// publishes with hub.publish() from its own routes.
import { createServer } from 'node:http';
import { createHub } from 'cometa';
import express from 'express';

const hub = createHub({
  prefix: '/live', // the hub's routes: /live/pub/..., /live/sub/..., /live/cometa.js, /live/metrics
  store: process.env.COMETA_STORE ?? 'memory',
});

const app = express();
// Mount the hub BEFORE any body parser: it reads publish bodies itself. Requests outside
// /live go on to the next middleware.
app.use(hub.handler);

// Application code publishes: here an order placed through the app's own API is pushed live
// to every page subscribed to `orders.new`.
app.post('/api/orders', express.json(), async (req, res, next) => {
  try {
    const order = { item: String(req.body.item ?? ''), qty: Number(req.body.qty ?? 1) };
    const id = await hub.publish('orders.new', order, { event: 'order' });
    res.status(201).json({ ok: true, id });
  } catch (err) {
    next(err);
  }
});

app.get('/', (_req, res) => {
  res.type('html').send(`<!doctype html><title>orders</title><ul id="list"></ul>
<script src="/live/cometa.js"></script>
<script>
  cometa.subscribe(location.origin + '/live', ['orders.new'], {
    onMessage: (e) => list.insertAdjacentHTML('afterbegin', '<li>' + e.data.qty + ' × ' + e.data.item + '</li>'),
  });
</script>`);
});

const server = createServer(app);
// WebSocket subscriptions arrive as upgrades on the same server.
server.on('upgrade', hub.upgrade);
// Streams are long-lived: Node's default request timeout (300 s) must not cut them.
server.requestTimeout = 0;

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

// Graceful shutdown: streams get a final `close` event (clients resume elsewhere), then exit.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    await hub.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
