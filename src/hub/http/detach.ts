import type { ServerResponse } from 'node:http';
import { Socket } from 'node:net';

/**
 * What Node's HTTP server attaches to a connection (lib/_http_server.js, connectionListenerInternal),
 * by event and listener name. The four bound handlers share the per-connection state (the parser,
 * the queues of requests and responses) and are removed; `socketOnError` (errors go to the server's
 * 'clientError', then destroy the socket) and `socketOnTimeout` (`server.timeout`) hold no state and
 * stay.
 */
const BOUND = [
  ['data', 'bound socketOnData'],
  ['end', 'bound socketOnEnd'],
  ['close', 'bound socketOnClose'],
  ['drain', 'bound socketOnDrain'],
] as const;
/** Only there while the parser consumes the socket (Node's own unconsume() removes them too). */
const CONSUMING = [
  ['resume', 'onSocketResume'],
  ['pause', 'onSocketPause'],
] as const;

/** The members of Node's HTTP parser binding used here (an internal object: each is checked first). */
interface NodeParser {
  socket: unknown;
  incoming: unknown;
  outgoing: unknown;
  onIncoming: unknown;
  _consumed?: boolean;
  unconsume(): void;
  remove(): void;
  close(): void;
}

/** A socket an HTTP server handed to a request, with the fields Node's server sets on it. */
type ServerSocket = Socket & {
  parser?: NodeParser | null;
  _httpMessage?: unknown;
  _paused?: boolean;
};

function named(socket: Socket, event: string, name: string): ((...args: unknown[]) => void) | undefined {
  for (const l of socket.rawListeners(event)) if (l.name === name) return l as (...args: unknown[]) => void;
  return undefined;
}

function isParser(p: unknown): p is NodeParser {
  if (typeof p !== 'object' || p === null) return false;
  const o = p as Record<string, unknown>;
  return typeof o.unconsume === 'function' && typeof o.remove === 'function' && typeof o.close === 'function';
}

function closeParser(parser: NodeParser): void {
  parser.close();
}

/**
 * Open detached sockets by owner (the hub), for {@link destroyDetached}, with the one 'close'
 * listener that forgets a socket (shared by all of the owner's sockets: no closure per socket).
 */
const owned = new WeakMap<object, { sockets: Set<Socket>; forget: (this: Socket) => void }>();

function ownedBy(owner: object): { sockets: Set<Socket>; forget: (this: Socket) => void } {
  let o = owned.get(owner);
  if (o === undefined) {
    const sockets = new Set<Socket>();
    o = {
      sockets,
      forget(this: Socket) {
        sockets.delete(this);
      },
    };
    owned.set(owner, o);
  }
  return o;
}

/**
 * Destroys every socket detached for `owner` that is still open. The server's
 * `closeAllConnections()` no longer sees them (they left its connection list), so `hub.close()`
 * calls this once the close frames had a moment to leave.
 */
export function destroyDetached(owner: object): void {
  const o = owned.get(owner);
  if (o === undefined) return;
  for (const socket of [...o.sockets]) socket.destroy();
}

/**
 * Takes a streaming response's socket away from Node's HTTP server once the head is written, the
 * way Node itself does for an upgrade: the request and response objects, the HTTP parser (and its
 * C++ half), the server's per-connection state with its bound listeners and the entry in the
 * server's connection list are all released, about half of an idle stream's memory. The hub only
 * ever writes to the socket afterwards (stream-base.ts), and a stream's response is
 * `Connection: close`, so there is no next request to parse.
 *
 * What Node's listeners did is kept: the response's 'close' listeners (the connection-limit release,
 * the subscriber's detach) move to the socket and run when it closes (with the socket as `this`);
 * socket errors and `server.timeout` are still handled by Node's own listeners; a peer's FIN ends
 * the socket (Node's server does not allow half-open connections either). Bytes the peer sends
 * later are read and dropped, so a close is still seen.
 *
 * The socket is remembered under `owner` until it closes, for {@link destroyDetached}.
 *
 * Returns false, changing nothing, when the connection is not what this expects (another Node
 * version, HTTP/2, a response already finished): the stream then works as before, at the old cost.
 */
export function detachResponse(res: ServerResponse, socket: Socket, owner: object): boolean {
  const s = socket as ServerSocket;
  const parser = s.parser;
  if (
    !isParser(parser) ||
    parser.socket !== socket ||
    s._httpMessage !== res ||
    res.socket !== socket ||
    typeof res.detachSocket !== 'function' ||
    socket.destroyed
  )
    return false;
  // Without an 'error' listener a reset peer would crash the process: Node's must be there.
  if (named(socket, 'error', 'socketOnError') === undefined) return false;
  const found: Array<[string, (...args: unknown[]) => void]> = [];
  for (const [event, name] of BOUND) {
    const l = named(socket, event, name);
    if (l === undefined) return false;
    found.push([event, l]);
  }
  for (const [event, name] of CONSUMING) {
    const l = named(socket, event, name);
    if (l !== undefined) found.push([event, l]);
  }

  // The response's 'close' listeners run on the socket's 'close' from now on.
  for (const l of res.rawListeners('close')) {
    const fn = (l as { listener?: (...args: unknown[]) => void }).listener ?? l;
    socket.on('close', fn as () => void);
  }
  res.removeAllListeners('close');
  res.detachSocket(socket);
  for (const [event, l] of found) socket.removeListener(event, l);

  // The parser stops reading the socket (reads go to the socket again), leaves the server's
  // connection list (headers/request timeouts concern requests still being read) and is closed
  // once the current parse, if any, has unwound (as Node's freeParser does).
  if (parser._consumed === true) parser.unconsume();
  parser._consumed = false;
  parser.remove();
  parser.socket = null;
  parser.incoming = null;
  parser.outgoing = null;
  parser.onIncoming = null;
  setImmediate(closeParser, parser);
  s.parser = null;
  // Node wrapped these so that a 'data' listener would stop the parser; there is none now.
  socket.on = Socket.prototype.on;
  socket.addListener = Socket.prototype.addListener;
  socket.prependListener = Socket.prototype.prependListener;
  socket.setEncoding = Socket.prototype.setEncoding;

  // Node's socketOnEnd ended the socket on the peer's FIN; a socket that does not allow half-open
  // connections does that by itself.
  socket.allowHalfOpen = false;
  const o = ownedBy(owner);
  o.sockets.add(socket);
  socket.on('close', o.forget);
  // The server pauses a connection that pipelines requests faster than it answers; keep reading so
  // the peer's close is seen (what it sends is dropped: there is no 'data' listener).
  if (s._paused === true) s._paused = false;
  if (socket.isPaused()) socket.resume();
  return true;
}
