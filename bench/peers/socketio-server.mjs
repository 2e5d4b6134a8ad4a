// Socket.IO 4 peer, written as its users write it: clients emit `join` with a channel name (ack),
// an HTTP `POST /pub/:channel` route emits the JSON body to the room. One process, loopback.
// Usage: node bench/peers/socketio-server.mjs PORT
import http from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  const m = /^\/pub\/([\w.~:-]+)$/.exec(req.url ?? '');
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
    io.to(m[1]).emit('message', data);
    res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"ok":true}');
  });
});
server.keepAliveTimeout = 120_000;
const io = new Server(server, {
  transports: ['websocket', 'polling'],
  serveClient: false,
  cors: { origin: '*' },
});
io.on('connection', (socket) => {
  socket.on('join', (channel, ack) => {
    if (typeof channel === 'string') socket.join(channel);
    if (typeof ack === 'function') ack();
  });
});
server.listen(port, '127.0.0.1', () => process.send?.({ ready: port }));
process.on('SIGTERM', () => process.exit(0));
