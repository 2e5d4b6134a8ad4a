// Memory of a held HTTP request in bare Node, the floor under a held long-poll (bench/README.md,
// Results and analysis: idle memory). Run: node bench/held-request-memory.mjs [count]
// A child process runs a Node `http` server on 127.0.0.1 that never answers; this process opens
// `count` (default 5,000) raw-socket GETs shaped like a long-poll, from 127.0.0.2, and prints the
// child's RSS growth per held request, each side of a full GC.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

if (process.argv[2] === 'server') {
  const held = [];
  const server = createServer((_req, res) => held.push(res));
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
  process.on('message', () => {
    globalThis.gc();
    process.send({ rss: process.memoryUsage().rss, held: held.length });
  });
} else {
  const count = Number(process.argv[2] ?? 5000);
  const child = fork(fileURLToPath(import.meta.url), ['server'], { execArgv: ['--expose-gc'] });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const measure = () =>
    new Promise((resolve) => {
      child.once('message', resolve);
      child.send('measure');
    });
  try {
    const port = await new Promise((resolve) => child.once('message', resolve));
    await sleep(500);
    const before = await measure();
    const sockets = [];
    for (let i = 0; i < count; i++) {
      const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
      socket.on('error', () => {});
      socket.write(
        `GET /sub/ch${i % 100}?transport=longpoll&since=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n`,
      );
      sockets.push(socket);
      if (i % 500 === 499) await sleep(50);
    }
    await sleep(3000);
    const after = await measure();
    console.log(
      `${after.held} requests held: ${((after.rss - before.rss) / 1024 / count).toFixed(2)} KB of RSS each (bare Node ${process.version} http)`,
    );
    for (const s of sockets) s.destroy();
  } finally {
    child.kill();
  }
}
