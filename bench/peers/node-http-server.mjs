// The floor for any hub built on Node's http module: the same HTTP exchanges as cometa's publish
// and long-poll scenarios, answered with nothing behind them (last body per channel in a Map, no
// validation, routing, auth, limits, history or fan-out). Measures what Node's HTTP stack itself
// costs on this machine, so the report can say how much of cometa's cost is its own.
// Usage: node bench/peers/node-http-server.mjs PORT
import http from 'node:http';

const port = Number(process.argv[2]);
const last = new Map();
let seq = 0;
const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (req.method === 'POST' && path.startsWith('/pub/')) {
    const channel = path.slice(5);
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const json = Buffer.concat(chunks).toString();
      JSON.parse(json);
      const id = `e-${++seq}`;
      last.set(channel, { id, json });
      const body = JSON.stringify({ id, channel });
      res.writeHead(202, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  if (req.method === 'GET' && path.startsWith('/sub/')) {
    const m = last.get(path.slice(5));
    const body = m ? `{"messages":[${m.json}],"cursor":"${m.id}"}` : '{"messages":[],"cursor":"e-0"}';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  res.writeHead(404).end();
});
server.keepAliveTimeout = 120_000;
server.listen(port, '127.0.0.1');
