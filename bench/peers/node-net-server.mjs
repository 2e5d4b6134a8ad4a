// The floor for a Node hub that parses HTTP/1.1 itself on raw `net` sockets instead of using the
// http module: the same exchanges as peers/node-http-server.mjs (and cometa's publish and long-poll
// scenarios), answered from one buffer per read with a minimal parser. Not a server anyone should
// run: it knows Content-Length bodies only and trusts its client. It measures how much of Node's
// cost is the http module, i.e. what a hub with its own HTTP/1.1 layer could reach.
// It reads as cometa's fast lane does (src/hub/http/shared-read.ts): each accepted
// connection reads with `onread` into one shared buffer, which skips Node's Readable path and a
// buffer per read (20.6 -> 17.4 µs per publish in a pinned A/B of the two versions).
// Usage: node bench/peers/node-net-server.mjs PORT
import net from 'node:net';

const port = Number(process.argv[2]);
const last = new Map();
let seq = 0;
const END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const REASON = { 200: 'OK', 202: 'Accepted', 404: 'Not Found' };

function answer(method, path, body) {
  if (method === 'POST' && path.startsWith('/pub/')) {
    JSON.parse(body);
    const id = `e-${++seq}`;
    last.set(path.slice(5), { id, json: body });
    return [202, JSON.stringify({ id, channel: path.slice(5) })];
  }
  if (method === 'GET' && path.startsWith('/sub/')) {
    const m = last.get(path.slice(5));
    return [200, m ? `{"messages":[${m.json}],"cursor":"${m.id}"}` : '{"messages":[],"cursor":"e-0"}'];
  }
  return [404, ''];
}

const SHARED = Buffer.allocUnsafe(64 * 1024);

function onConnection(sock) {
  // What the `onread` option would have set, given to the accepted socket in place (as cometa's
  // src/hub/http/shared-read.ts does, with its checks and fallback).
  const own = Object.getOwnPropertySymbols(sock);
  sock[own.find((s) => s.description === 'kBuffer')] = SHARED;
  sock[own.find((s) => s.description === 'kBufferCb')] = (n) => onChunk(SHARED.subarray(0, n));
  sock._handle.useUserBuffer(SHARED);
  sock.setNoDelay(true);
  let buf = null;
  sock.on('error', () => sock.destroy());
  const onChunk = (chunk) => {
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    let out = '';
    for (;;) {
      const end = buf.indexOf(END);
      if (end === -1) break;
      const head = buf.latin1Slice(0, end);
      const m = CONTENT_LENGTH.exec(head);
      const length = m ? Number(m[1]) : 0;
      if (buf.length < end + 4 + length) break;
      const body = buf.utf8Slice(end + 4, end + 4 + length);
      buf = buf.subarray(end + 4 + length);
      const sp1 = head.indexOf(' ');
      const url = head.slice(sp1 + 1, head.indexOf(' ', sp1 + 1));
      const q = url.indexOf('?');
      let status;
      let text;
      try {
        [status, text] = answer(head.slice(0, sp1), q === -1 ? url : url.slice(0, q), body);
      } catch {
        sock.destroy();
        return;
      }
      out += `HTTP/1.1 ${status} ${REASON[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nDate: ${new Date().toUTCString()}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=120\r\n\r\n${text}`;
    }
    // What stays past this read is copied out of the shared buffer.
    buf = buf.length === 0 ? null : Buffer.from(buf);
    if (out !== '') sock.write(out);
    return true;
  };
  sock.resume();
}

net.createServer({ pauseOnConnect: true }, onConnection).listen(port, '127.0.0.1');
