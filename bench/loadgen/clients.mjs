// Subscriber clients of the load generator. Raw `net` sockets with a minimal HTTP/1.1 parser for
// SSE, NDJSON streaming and long-poll; `ws` for WebSocket, speaking each peer's wire format directly
// (plain frames for nchan/cometa, Engine.IO v4 + Socket.IO packets, Bayeux for Faye).
//
// Each client calls h.ready() once subscribed, h.text(str) with complete units of received text
// (the caller counts payloads by their `"t":` key), h.fail(err) on an unexpected end.
import net from 'node:net';
import WebSocket from 'ws';
import { ResponseParser } from '../lib/http1.mjs';

const HOST = '127.0.0.1';

// One read buffer for every raw socket of this process: with `onread`, Node reads into it and calls
// back synchronously, so the load generator skips the Readable stream machinery, a Buffer per read
// and the string decoder. That keeps the reader cheap enough not to be the bottleneck (at 2,000 SSE
// subscribers x 50 msg/s the stream-based reader used a whole core).
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

/** A loopback TCP connection whose received bytes reach `onText` as latin1 strings. */
function rawSocket(o, onText) {
  const sock = net.connect({
    port: o.port,
    host: HOST,
    localAddress: o.localAddress,
    onread: { buffer: READ_BUF, callback: (n, buf) => onText(buf.latin1Slice(0, n)) },
  });
  sock.setNoDelay(true);
  return sock;
}

/** A streaming GET whose body is cut into units at `sep` (SSE: blank line; NDJSON: newline). */
function streamClient(o, h, path, accept, sep, readyOnFirstUnit) {
  let pending = '';
  let ready = false;
  let closing = false;
  const parser = new ResponseParser(
    (status) => {
      if (status !== 200) {
        closing = true;
        sock.destroy();
        h.fail(new Error(`HTTP ${status}`));
        return;
      }
      if (!readyOnFirstUnit) {
        ready = true;
        h.ready();
      }
    },
    (text) => {
      pending = pending.length ? pending + text : text;
      const i = pending.lastIndexOf(sep);
      if (i < 0) return;
      const units = pending.slice(0, i);
      pending = pending.slice(i + sep.length);
      if (!ready) {
        ready = true;
        h.ready();
      }
      h.text(units);
    },
    () => {},
  );
  const sock = rawSocket(o, (t) => parser.push(t));
  sock.on('connect', () => {
    sock.write(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nAccept: ${accept}\r\n\r\n`);
  });
  sock.on('error', () => {});
  sock.on('close', () => {
    if (!closing) h.fail(new Error('stream closed'));
  });
  return {
    close() {
      closing = true;
      sock.destroy();
    },
  };
}

/**
 * Long-poll loop on one keep-alive socket. `cursorOf(status, headers, body)` returns the next
 * request's cursor state; `request(cursor)` the request head. Reconnects if the server closes.
 */
function longPollClient(o, h, { request, next }) {
  let sock;
  let cursor = o.cursor ?? null;
  let closing = false;
  let status = 0;
  let headers = {};
  let body = '';
  let first = true;
  const parser = new ResponseParser(
    (s, hd) => {
      status = s;
      headers = hd;
      body = '';
    },
    (t) => {
      body += t;
    },
    () => {
      if (status === 200) {
        h.text(body);
        cursor = next(cursor, headers, body);
      } else if (status !== 304 && status !== 408) {
        h.fail(new Error(`HTTP ${status}`));
        closing = true;
        sock.destroy();
        return;
      }
      sock.write(request(cursor));
    },
  );
  const connect = () => {
    sock = rawSocket(o, (t) => parser.push(t));
    parser.reset();
    sock.on('connect', () => {
      sock.write(request(cursor));
      if (first) {
        first = false;
        h.ready();
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      if (closing) return;
      h.reconnect?.();
      connect();
    });
  };
  connect();
  return {
    close() {
      closing = true;
      sock.destroy();
    },
  };
}

function wsClient(o, url, onOpen, onMessage) {
  const ws = new WebSocket(url, { localAddress: o.localAddress, perMessageDeflate: false });
  let closing = false;
  ws.on('open', () => onOpen(ws));
  ws.on('message', (data) => onMessage(ws, data.toString('latin1')));
  ws.on('error', () => {});
  ws.on('unexpected-response', (_req, res) => {
    closing = true;
    o.h.fail(new Error(`HTTP ${res.statusCode}`));
    ws.terminate();
  });
  ws.on('close', () => {
    if (!closing) o.h.fail(new Error('websocket closed'));
  });
  return {
    close() {
      closing = true;
      ws.terminate();
    },
  };
}

// ---- per peer ----

const nchan = {
  sse: (o, h) => streamClient(o, h, `/sub/${o.channel}`, 'text/event-stream', '\n\n', false),
  ws: (o, h) =>
    wsClient(
      { ...o, h },
      `ws://${HOST}:${o.port}/sub/${o.channel}`,
      () => h.ready(),
      (_ws, t) => h.text(t),
    ),
  longpoll: (o, h) =>
    longPollClient(o, h, {
      request: (c) =>
        `GET /sub/${o.channel} HTTP/1.1\r\nHost: ${HOST}\r\n${
          c ? `If-Modified-Since: ${c.lm}\r\nIf-None-Match: ${c.etag}\r\n` : ''
        }\r\n`,
      next: (c, hd) => (hd['last-modified'] ? { lm: hd['last-modified'], etag: hd.etag ?? '0' } : c),
    }),
};

function cometaCursor(body) {
  const i = body.lastIndexOf('"cursor":"');
  if (i < 0) return null;
  return body.slice(i + 10, body.indexOf('"', i + 10));
}

const cometa = {
  sse: (o, h) => streamClient(o, h, `/sub/${o.channel}`, 'text/event-stream', '\n\n', true),
  stream: (o, h) =>
    streamClient(o, h, `/sub/${o.channel}?transport=stream`, 'application/x-ndjson', '\n', true),
  ws: (o, h) => {
    let ready = false;
    return wsClient(
      { ...o, h },
      `ws://${HOST}:${o.port}/sub/${o.channel}`,
      () => {},
      (_ws, t) => {
        if (!ready) {
          ready = true;
          h.ready();
        }
        h.text(t);
      },
    );
  },
  longpoll: (o, h) =>
    longPollClient(o, h, {
      request: (c) =>
        `GET /sub/${o.channel}${c ? `?since=${encodeURIComponent(c)}` : ''} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      next: (c, _hd, body) => cometaCursor(body) ?? c,
    }),
};

const socketio = {
  polling: socketioPolling,
  ws: (o, h) =>
    wsClient(
      { ...o, h },
      `ws://${HOST}:${o.port}/socket.io/?EIO=4&transport=websocket`,
      () => {},
      (ws, t) => {
        const c = t.charCodeAt(0);
        if (c === 52 /* 4: message */) {
          if (t.charCodeAt(1) === 50 /* 2: EVENT */) h.text(t);
          else if (t.startsWith('430')) h.ready();
          else if (t.startsWith('40')) ws.send(`420${JSON.stringify(['join', o.channel])}`);
        } else if (c === 50 /* 2: ping */) ws.send('3');
        else if (c === 48 /* 0: open */) ws.send('40');
      },
    ),
};

/**
 * Engine.IO v4 long-polling: GETs on one keep-alive socket (packets separated by \x1e), POSTs
 * (`40`, the join event, pong `3`) on a second one, as a browser's two XHR connections.
 */
function socketioPolling(o, h) {
  const base = '/socket.io/?EIO=4&transport=polling';
  let sid = null;
  let closing = false;
  let ready = false;
  const postQueue = [];
  let posting = false;
  const post = (body) => {
    postQueue.push(body);
    if (!posting) flushPost();
  };
  const postConn = new PubConn(o.port, o.localAddress);
  const flushPost = () => {
    const body = postQueue.shift();
    if (body === undefined) {
      posting = false;
      return;
    }
    posting = true;
    postConn.raw(
      `POST ${base}&sid=${sid} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      (status) => {
        if (status !== 200 && !closing) h.fail(new Error(`socket.io polling POST: HTTP ${status}`));
        flushPost();
      },
    );
  };
  const getConn = new PubConn(o.port, o.localAddress);
  const poll = () => {
    if (closing) return;
    getConn.raw(
      `GET ${base}${sid ? `&sid=${sid}` : ''} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      (status, body) => {
        if (closing) return;
        if (status !== 200) {
          closing = true;
          h.fail(new Error(`socket.io polling GET: HTTP ${status}`));
          return;
        }
        for (const t of body.split('\x1e')) {
          const c = t.charCodeAt(0);
          if (c === 52 /* 4: message */) {
            if (t.charCodeAt(1) === 50 /* 2: EVENT */) h.text(t);
            else if (t.startsWith('430')) {
              if (!ready) {
                ready = true;
                h.ready();
              }
            } else if (t.startsWith('40')) post(`420${JSON.stringify(['join', o.channel])}`);
          } else if (c === 50 /* 2: ping */) post('3');
          else if (c === 48 /* 0: open */) {
            sid = JSON.parse(t.slice(1)).sid;
            post('40');
          } else if (c === 49 /* 1: close */) {
            closing = true;
            h.fail(new Error('socket.io polling: closed by server'));
            return;
          }
        }
        poll();
      },
    );
  };
  poll();
  return {
    close() {
      closing = true;
      getConn.close();
      postConn.close();
    },
  };
}

const faye = {
  ws: (o, h) => {
    let clientId = null;
    let n = 0;
    const connect = (ws) =>
      ws.send(
        `[{"channel":"/meta/connect","clientId":"${clientId}","connectionType":"websocket","id":"${++n}"}]`,
      );
    return wsClient(
      { ...o, h },
      `ws://${HOST}:${o.port}/faye`,
      (ws) =>
        ws.send(
          `[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["websocket"],"id":"${++n}"}]`,
        ),
      (ws, t) => {
        if (t.includes('"/meta/')) {
          for (const m of JSON.parse(t)) {
            if (m.channel === '/meta/handshake' && m.successful) {
              clientId = m.clientId;
              ws.send(
                `[{"channel":"/meta/subscribe","clientId":"${clientId}","subscription":"/${o.channel}","id":"${++n}"}]`,
              );
              connect(ws);
            } else if (m.channel === '/meta/subscribe') {
              if (m.successful) h.ready();
              else h.fail(new Error(`faye subscribe: ${m.error}`));
            } else if (m.channel === '/meta/connect') {
              if (m.successful) connect(ws);
              else h.fail(new Error(`faye connect: ${m.error}`));
            }
          }
        }
        h.text(t);
      },
    );
  },
};

export const CLIENTS = { nchan, cometa, socketio, faye };

/** Opens one subscriber: peer in CLIENTS, transport a key of it. */
export function openSubscriber(peer, transport, o, h) {
  const make = CLIENTS[peer]?.[transport];
  if (!make) throw new Error(`no ${transport} client for ${peer}`);
  return make(o, h);
}

// ---- publishing over raw keep-alive connections ----

/**
 * One keep-alive HTTP/1.1 connection sending requests one at a time; cb(status, body) per answer.
 * Answers with Content-Length take a fast path (no header object); anything else goes through
 * ResponseParser.
 */
export class PubConn {
  constructor(port, localAddress) {
    this.port = port;
    this.localAddress = localAddress;
    this.busy = false;
    this.cb = null;
    this.buf = '';
    this.slow = null;
    this.connect();
  }

  done(status, body) {
    this.busy = false;
    const cb = this.cb;
    this.cb = null;
    cb?.(status, body);
  }

  onData(d) {
    if (this.slow) {
      this.slow.push(d);
      return;
    }
    this.buf = this.buf.length ? this.buf + d : d;
    for (;;) {
      const buf = this.buf;
      const e = buf.indexOf('\r\n\r\n');
      if (e < 0) return;
      let i = buf.indexOf('ontent-Length:');
      if (i < 0 || i > e) i = buf.indexOf('ontent-length:');
      if (i < 0 || i > e) {
        // Chunked or close-delimited: hand the rest to the general parser.
        let status = 0;
        let body = '';
        this.slow = new ResponseParser(
          (s) => {
            status = s;
          },
          (t) => {
            body += t;
          },
          () => {
            // One request at a time: nothing follows the end of this answer.
            this.slow = null;
            this.done(status, body);
          },
        );
        this.buf = '';
        this.slow.push(buf);
        return;
      }
      const len = Number.parseInt(buf.slice(i + 14, buf.indexOf('\r', i)), 10);
      if (buf.length < e + 4 + len) return;
      const status = Number(buf.slice(9, 12));
      const body = buf.slice(e + 4, e + 4 + len);
      this.buf = buf.length === e + 4 + len ? '' : buf.slice(e + 4 + len);
      this.done(status, body);
    }
  }

  connect() {
    this.sock = rawSocket(this, (t) => this.onData(t));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      if (this.closed) return;
      this.buf = '';
      this.slow = null;
      this.connect();
      this.done(0, '');
    });
  }

  post(path, body, cb) {
    this.busy = true;
    this.cb = cb;
    this.sock.write(
      `POST ${path} HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
  }

  raw(head, cb) {
    this.busy = true;
    this.cb = cb;
    this.sock.write(head);
  }

  close() {
    this.closed = true;
    this.sock.destroy();
  }
}
