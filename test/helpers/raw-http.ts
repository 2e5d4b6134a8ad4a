/**
 * Raw HTTP/1.1 over a socket for the fast lane's tests: chunk boundaries, pipelining and byte-level
 * mutations are the point, so no HTTP client library sits in between.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { sleep } from './hub.js';

/** A connection that collects everything the hub sends (latin1), until it closes. */
export interface RawClient {
  socket: Socket;
  text(): string;
  closed: Promise<void>;
}

/** Opens a raw connection to the hub on loopback; socket errors only end it. */
export function client(port: number): RawClient {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    text += d;
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  return { socket, text: () => text, closed };
}

/** Writes `parts` (one write each, `gapMs` apart) and collects what the hub sends until it closes. */
export async function exchange(port: number, parts: string[], gapMs = 0, endAfterMs = 400): Promise<string> {
  const c = client(port);
  const timer = setTimeout(() => c.socket.destroy(new Error('no close')), 10_000);
  let failed: Error | undefined;
  c.socket.on('error', (err) => {
    failed = err;
  });
  let ender: NodeJS.Timeout | undefined;
  void (async () => {
    for (const p of parts) {
      if (c.socket.destroyed) return;
      c.socket.write(p);
      if (gapMs > 0) await sleep(gapMs);
    }
    // Cleared when the hub closes first (a pending timer would hold the test process open).
    ender = setTimeout(() => c.socket.end(), endAfterMs);
  })();
  await c.closed;
  clearTimeout(timer);
  clearTimeout(ender);
  if (failed !== undefined) throw new Error(`${failed.message}; got: ${JSON.stringify(c.text())}`);
  return c.text();
}

export interface Answer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Splits a stream of Content-Length answers into answers. */
export function answers(text: string): Answer[] {
  const out: Answer[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    assert.ok(end > 0, `an answer head in ${JSON.stringify(rest)}`);
    const lines = rest.slice(0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
    }
    const length = Number(headers.get('content-length') ?? 0);
    out.push({ status, headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

/** Status codes of every answer on a connection that sends `bytes`, then its FIN. */
export async function statuses(port: number, bytes: Buffer): Promise<string> {
  const c = client(port);
  const timer = setTimeout(() => c.socket.destroy(), 3000);
  c.socket.end(bytes);
  await c.closed;
  clearTimeout(timer);
  return [...c.text().matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]).join(',');
}

/** `count` seeded mutations (1 to 3 byte edits each) of `base`. */
export function mutations(base: Buffer, count: number, start: number): Buffer[] {
  let seed = start;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = Buffer.from('\r\n :\t\x00\x7f\x80aZ0-9/?%;=,\\"Ee', 'latin1');
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    let b = Buffer.from(base);
    for (let k = 1 + rnd(3); k > 0; k--) {
      const at = rnd(b.length);
      const op = rnd(4);
      const c = Buffer.from([alphabet[rnd(alphabet.length)]!]);
      if (op === 0) b[at] = c[0]!;
      else if (op === 1) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
      else if (op === 2) b = Buffer.concat([b.subarray(0, at), c, b.subarray(at)]);
      else b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1 + rnd(20)), b.subarray(at)]);
    }
    out.push(b);
  }
  return out;
}
