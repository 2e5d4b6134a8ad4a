import { type Server, Socket } from 'node:net';

/**
 * Connections read into one shared buffer, for the fast lane.
 *
 * Node reads each socket into a new buffer and pushes it through its stream machinery (Readable,
 * a 'data' event). For a request of a few hundred bytes that costs more than parsing it: a bare
 * `net` server answering the publish flood spent 20.6 µs of CPU per publish reading that way and
 * 17.4 µs reading with `onread` into one buffer, both user and kernel time lower (session 11,
 * `taskset -c 1 node bench/ab.mjs` on two variants of bench/peers/node-net-server.mjs, 6 pairs of
 * 6). Node offers `onread` only to sockets it connects, so {@link adopt} wraps an accepted
 * connection's handle in a socket of its own that reads that way.
 *
 * The buffer is overwritten by the next read of any connection: what a callback keeps past its
 * return must be copied ({@link isShared}). The callback runs synchronously and nothing else reads
 * meanwhile, so one buffer serves every connection of the process.
 */
const SHARED = Buffer.allocUnsafe(64 * 1024);

/**
 * Called with the bytes just read, `shared[0, n)`; `this` is the socket. Returning false stops
 * reading (as `pause()` does, without touching the stream's flowing state): a stream read resumes it.
 */
export type OnRead = (this: Socket, n: number, shared: Buffer) => boolean;

/** Whether `b` is a view of the shared read buffer (valid only until the callback returns). */
export function isShared(b: Buffer): boolean {
  return b.buffer === SHARED.buffer;
}

/** The options net.Server keeps on itself from its constructor (not in Node's type declarations). */
interface ServerOptions {
  pauseOnConnect: boolean;
  allowHalfOpen: boolean;
  noDelay: boolean;
  keepAlive: boolean;
  keepAliveInitialDelay: number;
  highWaterMark: number;
}

/** Makes `server` give its new connections unread, so that {@link adopt} can take them first. */
export function pauseAccepted(server: Server): void {
  (server as unknown as ServerOptions).pauseOnConnect = true;
}

/** The parts of Node's accepted socket that adopt() moves to its own (internal, hence checked). */
interface Accepted {
  _handle: { useUserBuffer?: unknown; reading?: boolean } | null;
  _server: Server | null;
  server: Server | null;
}

/**
 * Takes a connection `server` just accepted (paused by {@link pauseAccepted}): its handle is
 * wrapped in a new socket that reads into the shared buffer and calls `onRead`. The new socket
 * behaves as Node's in every other way (writes, 'end', 'close', pause() and resume(), the server's
 * connection count). Where the runtime's handle cannot read into a given buffer, the accepted
 * socket itself is returned, reading as usual, its 'data' passed to `onRead`.
 *
 * Once the caller hands the socket on ({@link release}), its reads go into its stream as with any
 * socket, so Node's HTTP server and WebSocket upgrades take it unchanged.
 */
export function adopt(socket: Socket, server: Server, onRead: OnRead): Socket {
  const accepted = socket as unknown as Accepted;
  const handle = accepted._handle;
  if (handle === null || typeof handle.useUserBuffer !== 'function' || accepted._server !== server) {
    socket.on('data', dataListener(onRead));
    socket.resume();
    return socket;
  }
  // The accepted socket gives up its handle and its place in the server's connection count: it
  // closes without touching either.
  accepted._handle = null;
  accepted._server = null;
  accepted.server = null;
  socket.destroy();
  const o = server as unknown as ServerOptions;
  const own = new Socket({
    handle: handle as never,
    allowHalfOpen: o.allowHalfOpen,
    readable: true,
    writable: true,
    // What net.Server applied to the handle as it accepted it, recorded so that setNoDelay() and
    // setKeepAlive() compare against the truth.
    noDelay: o.noDelay,
    keepAlive: o.keepAlive,
    keepAliveInitialDelay: o.keepAliveInitialDelay * 1000,
    highWaterMark: o.highWaterMark,
    onread: { buffer: SHARED, callback: onRead as never },
  } as never);
  const adopted = own as unknown as Accepted;
  adopted._server = server;
  adopted.server = server;
  return own;
}

const listeners = new WeakMap<OnRead, (this: Socket, chunk: Buffer) => void>();

/** The 'data' listener of a socket that could not be adopted (one per callback, shared). */
function dataListener(onRead: OnRead): (this: Socket, chunk: Buffer) => void {
  let l = listeners.get(onRead);
  if (l === undefined) {
    l = function (this: Socket, chunk: Buffer): void {
      onRead.call(this, chunk.length, chunk);
    };
    listeners.set(onRead, l);
  }
  return l;
}

/**
 * Hands an adopted socket on: from now on its reads are pushed into its stream (a copy each), and
 * `onRead` must pass them here. A socket that was not adopted stops calling `onRead`.
 */
export function release(socket: Socket, onRead: OnRead): void {
  const l = listeners.get(onRead);
  if (l !== undefined) socket.removeListener('data', l);
}

/**
 * What `onRead` returns for the reads of a socket it has released: a copy pushed into the stream;
 * false (stop reading) when the stream's buffer is full, until it is read (Node's own flow control).
 */
export function pushRead(socket: Socket, n: number, shared: Buffer): boolean {
  const copy = Buffer.allocUnsafe(n);
  shared.copy(copy, 0, 0, n);
  return socket.push(copy);
}
