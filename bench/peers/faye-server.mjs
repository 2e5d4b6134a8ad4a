// Faye 1.4 peer: NodeAdapter mounted at /faye (Bayeux over WebSocket and HTTP), and an HTTP
// `POST /pub/:channel` route publishing the JSON body through the server-side client, answered once
// Faye accepted it. One process, loopback. Usage: node bench/peers/faye-server.mjs PORT
import http from 'node:http';
import faye from 'faye';

const port = Number(process.argv[2]);
const bayeux = new faye.NodeAdapter({ mount: '/faye', timeout: 25 });
const client = bayeux.getClient();
const server = http.createServer((req, res) => {
  const m = /^\/pub\/([\w~:-]+)$/.exec(req.url ?? '');
  if (req.method !== 'POST' || !m) {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let data;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      res.writeHead(400).end();
      return;
    }
    client.publish(`/${m[1]}`, data).then(
      () => res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"ok":true}'),
      () => res.writeHead(500).end(),
    );
  });
});
server.keepAliveTimeout = 120_000;
bayeux.attach(server);
server.listen(port, '127.0.0.1', () => process.send?.({ ready: port }));
process.on('SIGTERM', () => process.exit(0));
