/**
 * Chaos helpers shared by the Node and Chromium chaos runs: a killer that cuts random subscriber
 * connections on the hub (gracefully with a `close` frame, or abruptly at the socket), and the
 * checker that proves exactly-once, in-order delivery per channel with every loss announced by a gap.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Hub } from '../../src/hub/index.js';
import type { Subscriber } from '../../src/hub/subscriber.js';
import type { Envelope, GapData } from '../../src/protocol/envelope.js';

/** Cuts a subscriber's connection at the socket, with no close frame (a network failure). */
export function cutAbruptly(s: Subscriber): void {
  const x = s as Subscriber & {
    ws?: { terminate(): void };
    socket?: { destroy(): void };
    res?: { socket: { destroy(): void } | null };
    lane?: { socket: { destroy(): void } };
  };
  if (x.ws) x.ws.terminate();
  else if (x.socket) x.socket.destroy();
  // A poll held by the fast lane (http/fast-poll.ts).
  else if (x.lane) x.lane.socket.destroy();
  else if (x.res) x.res.socket?.destroy();
  // A subscriber kind this does not know would make every "cut" a silent no-op.
  else throw new Error(`cutAbruptly: no socket found on a ${s.transport} subscriber`);
}

/**
 * Every `everyMs` (± half), kills about `share` of the connections: attached subscribers are
 * ended by the hub (`kicked`, with a close frame) or cut at their socket, and raw server sockets
 * (which also catches long-polls between two requests, or an answer on its way) are destroyed.
 */
/** Records the open sockets of servers (from now on), so a killer can cut any of them. */
export function trackSockets(servers: Server[]): Set<Socket> {
  const sockets = new Set<Socket>();
  for (const server of servers) {
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
  }
  return sockets;
}

export function startKiller(
  hub: Hub,
  everyMs: number,
  sockets: Set<Socket>,
  share = 0.3,
): { stop(): void; kills: () => number } {
  let kills = 0;
  let timer: NodeJS.Timeout;
  const round = () => {
    for (const s of [...hub.core.subscribers]) {
      if (Math.random() >= share / 2) continue;
      kills++;
      if (Math.random() < 0.5) s.end('kicked');
      else cutAbruptly(s);
    }
    for (const s of [...sockets]) {
      if (Math.random() >= share / 2) continue;
      kills++;
      s.destroy();
    }
    timer = setTimeout(round, everyMs / 2 + Math.random() * everyMs);
  };
  timer = setTimeout(round, everyMs);
  return {
    stop: () => clearTimeout(timer),
    kills: () => kills,
  };
}

const seqOf = (id: string) => Number(id.slice(id.lastIndexOf('-') + 1));

/**
 * Checks what one subscriber received (messages and gaps, in arrival order) against what was
 * published per channel. Returns a list of problems (empty when all is well):
 * - every message at most once and in publish order per channel;
 * - a published message that is missing must be covered by a gap event received before the next
 *   message of its channel (between the gap's `since` and `next`);
 * - with `allowGaps` false, no gap at all and nothing missing.
 */
export function checkDelivery(
  received: Envelope[],
  published: Map<string, string[]>,
  allowGaps: boolean,
): string[] {
  const problems: string[] = [];
  for (const [channel, ids] of published) {
    const events = received.filter((e) => e.channel === channel);
    const seqs = ids.map(seqOf);
    let pi = 0; // index in the published list of the next message we expect
    let coveredUpTo = -1; // seq before which a gap declared messages lost
    for (const e of events) {
      if (e.event === 'gap') {
        if (!allowGaps) problems.push(`${channel}: unexpected gap ${JSON.stringify(e.data)}`);
        const g = e.data as GapData;
        coveredUpTo = g.next === null ? Number.MAX_SAFE_INTEGER : seqOf(g.next);
        continue;
      }
      const s = seqOf(e.id!);
      const at = seqs.indexOf(s, pi);
      if (at === -1) {
        problems.push(`${channel}: ${e.id} is a duplicate, out of order or never published`);
        continue;
      }
      for (let k = pi; k < at; k++) {
        if (seqs[k]! >= coveredUpTo) problems.push(`${channel}: lost ${ids[k]} with no gap announcing it`);
      }
      pi = at + 1;
    }
    for (let k = pi; k < ids.length; k++) problems.push(`${channel}: never received ${ids[k]}`);
  }
  return problems.slice(0, 10);
}
