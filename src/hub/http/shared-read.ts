import type { Server, Socket } from 'node:net';

/**
 * Connections read into one shared buffer, for the fast lane.
 *
 * Node reads each socket into a new buffer and pushes it through its stream machinery (Readable,
 * a 'data' event). For a request of a few hundred bytes that costs more than parsing it: a bare
 * `net` server answering the publish flood spent 20.6 µs of CPU per publish reading that way and
 * 17.4 µs reading with `onread` into one buffer, both user and kernel time lower (commit 3448c3d,
 * `taskset -c 1 node bench/ab.mjs` on two variants of bench/peers/node-net-server.mjs, 6 pairs of
 * 6). Node offers `onread` only to sockets it connects; {@link adopt} gives an accepted
 * connection the same.
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

/** Makes `server` give its new connections unread, so that {@link adopt} can take them first. */
export function pauseAccepted(server: Server): void {
  (server as unknown as { pauseOnConnect: boolean }).pauseOnConnect = true;
}

/** The handle of a socket (internal to Node, hence checked before use). */
interface Handled {
  _handle: { useUserBuffer?: unknown } | null;
}

/**
 * Node's own symbols for a socket's user read buffer and its callback: what its constructor sets
 * from the `onread` option, and what its read path (`onStreamRead`), `pause()` and `resume()` look
 * at. Found once, by name, on the first socket; null when this runtime has no such symbols.
 */
let readSymbols: { buffer: symbol; callback: symbol } | null | undefined;

function readSymbolsOf(socket: Socket): { buffer: symbol; callback: symbol } | null {
  if (readSymbols === undefined) {
    const own = Object.getOwnPropertySymbols(socket);
    const buffer = own.find((s) => s.description === 'kBuffer');
    const callback = own.find((s) => s.description === 'kBufferCb');
    readSymbols = buffer !== undefined && callback !== undefined ? { buffer, callback } : null;
  }
  return readSymbols;
}

/**
 * Takes a connection just accepted by a server paused with {@link pauseAccepted} and makes it read
 * into the shared buffer, calling `onRead`: the socket is given, in place, what the `onread` option
 * would have given it. It behaves as any socket in every other way (writes, 'end', 'close',
 * pause() and resume()). Where the runtime's handle cannot read into a given buffer, the socket
 * reads as usual and its 'data' is passed to `onRead`. (The first way tried wrapped the handle in a
 * second socket: held long-polls then measured 6.0–7.9 KB per connection in four idle-benchmark
 * runs, against 4.3–6.0 KB in seven runs in place.)
 *
 * Once the caller hands the socket on ({@link release}), its reads go into its stream as with any
 * socket, so Node's HTTP server and WebSocket upgrades take it unchanged.
 */
export function adopt(socket: Socket, onRead: OnRead): Socket {
  const handle = (socket as unknown as Handled)._handle;
  const symbols = readSymbolsOf(socket);
  const fields = socket as unknown as Record<symbol, unknown>;
  if (
    handle === null ||
    typeof handle.useUserBuffer !== 'function' ||
    symbols === null ||
    fields[symbols.buffer] !== null
  ) {
    socket.on('data', dataListener(onRead));
    socket.resume();
    return socket;
  }
  fields[symbols.buffer] = SHARED;
  fields[symbols.callback] = onRead;
  (handle.useUserBuffer as (this: unknown, b: Buffer) => void).call(handle, SHARED);
  // Starts reading: resume() starts the handle of a socket with a user buffer.
  socket.resume();
  return socket;
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
