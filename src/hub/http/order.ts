import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Request order on one connection of Node's path (HTTP/1.1 pipelining, RFC 9112 §9.3).
 *
 * Node parses pipelined requests as they arrive and hands each to the handler at once; only the
 * responses are written in order. That is not enough for the hub:
 * - a poll pipelined behind a publish would run before the publish is stored and miss it;
 * - a malformed request behind a publish gets its 400 written straight to the socket
 *   (`clientError`), ahead of the publish's 202: a client reads the 400 as the publish's answer
 *   and retries a message that was stored;
 * - a WebSocket upgrade behind a publish gets its 101 ahead of the 202.
 *
 * So a request waits until every earlier request of its connection that is a *barrier* has been
 * answered: everything but subscriptions, which may be held for long and are answered in order by
 * Node anyway (a publish pipelined behind a held poll still runs and wakes that poll). A refusal
 * of an unparsable request and an upgrade wait for every earlier answer. A connection with no
 * pipelined requests (the usual case) never waits: it costs a counter and a 'close' listener.
 */
const ORDER = Symbol('cometa.order');
const BARRIER = Symbol('cometa.barrier');

interface Order {
  /** Requests of the connection whose responses have not closed (started or waiting). */
  open: number;
  /** Started barrier requests whose responses have not closed. */
  barriers: number;
  /** Requests waiting for the barriers ahead of them, in arrival order. */
  waiting: Array<{ res: OrderedResponse; barrier: boolean; run: () => void }>;
  /** Raw answers (a refusal, an upgrade) waiting until at most `open` responses are open. */
  afterAll: Array<{ open: number; fn: () => void }>;
  /** Whether the response to the connection's latest request (its parser's `incoming`) is open. */
  lastOpen: boolean;
}

type OrderedSocket = Duplex & { [ORDER]?: Order };
type OrderedResponse = ServerResponse & { [BARRIER]?: boolean };

function orderOf(socket: OrderedSocket): Order {
  let o = socket[ORDER];
  if (o === undefined) {
    o = { open: 0, barriers: 0, waiting: [], afterAll: [], lastOpen: false };
    socket[ORDER] = o;
    // A response queued behind a stream never closes: forget everything with the connection.
    socket.once('close', forget);
  }
  return o;
}

function forget(this: OrderedSocket): void {
  const o = this[ORDER];
  if (o === undefined) return;
  o.waiting.length = 0;
  o.afterAll.length = 0;
  o.lastOpen = false;
}

/**
 * Registers a request on its connection. Returns true when it may run now; otherwise the caller
 * hands it to {@link runLater} at once. `barrier`: later requests of the connection wait for
 * this one's answer.
 */
export function mayRun(req: IncomingMessage, res: ServerResponse, barrier: boolean): boolean {
  // HTTP/2 streams share a connection but are concurrent by design: nothing to order.
  if (req.httpVersionMajor !== 1) return true;
  const o = orderOf(req.socket);
  o.open++;
  o.lastOpen = true;
  res.on('close', onResponseClose);
  if (o.barriers > 0 || o.waiting.length > 0) return false;
  if (barrier) start(o, res);
  return true;
}

/**
 * Queues a request {@link mayRun} held back: `run` is called once the barriers ahead of it are
 * answered (never, if the connection closes first).
 */
export function runLater(req: IncomingMessage, res: ServerResponse, barrier: boolean, run: () => void): void {
  orderOf(req.socket).waiting.push({ res, barrier, run });
}

function start(o: Order, res: OrderedResponse): void {
  o.barriers++;
  res[BARRIER] = true;
}

/** Runs `fn` once every response of the connection so far has closed (now, when none is open). */
export function afterEarlierAnswers(socket: Duplex, fn: () => void): void {
  whenOpenAtMost(socket, 0, fn);
}

/**
 * Runs `fn` once every response before the request Node's parser failed on has closed: the place
 * of that request's refusal. A failure while the latest request's body is still arriving (a bad
 * chunk, its deadline, the peer's FIN) is that request's own: its response cannot come before its
 * body, so it is not waited for (waiting would hold the connection until it is cut).
 */
export function afterAnswersBeforeFailure(socket: Duplex, fn: () => void): void {
  const o = (socket as OrderedSocket)[ORDER];
  const latest = incomingOf(socket);
  whenOpenAtMost(socket, o?.lastOpen === true && latest != null && !latest.complete ? 1 : 0, fn);
}

/**
 * The latest request Node's parser read on the connection (`parser.incoming`, set when its head
 * is parsed). Read from the parser rather than kept here: a reference kept would hold a stream's
 * request for the connection's life (http/detach.ts frees it).
 */
function incomingOf(socket: Duplex): IncomingMessage | null | undefined {
  return (socket as Duplex & { parser?: { incoming?: IncomingMessage | null } | null }).parser?.incoming;
}

function whenOpenAtMost(socket: Duplex, open: number, fn: () => void): void {
  const o = (socket as OrderedSocket)[ORDER];
  if (o === undefined || o.open <= open) fn();
  else o.afterAll.push({ open, fn });
}

/** One listener for every response: a closure per request would be allocated on every request. */
function onResponseClose(this: OrderedResponse | OrderedSocket): void {
  // A stream's response hands its 'close' listeners to its socket (detach.ts): then this is the
  // connection closing, and forget() has dropped whatever waited on it.
  if (!('req' in this)) return;
  const o = (this.req.socket as OrderedSocket | null)?.[ORDER];
  if (o === undefined) return;
  o.open--;
  if (this.req === incomingOf(this.req.socket as Duplex)) o.lastOpen = false;
  if (this[BARRIER] === true) o.barriers--;
  // Start waiting requests up to (and including) the next barrier.
  while (o.barriers === 0 && o.waiting.length > 0) {
    const next = o.waiting.shift()!;
    if (next.barrier) start(o, next.res);
    next.run();
  }
  if (o.afterAll.length > 0) {
    const due = o.afterAll.filter((a) => o.open <= a.open);
    if (due.length === 0) return;
    o.afterAll = o.afterAll.filter((a) => o.open > a.open);
    for (const a of due) a.fn();
  }
}
