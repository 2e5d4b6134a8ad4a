/**
 * Test drivers, one per transport, all with the same shape, so one suite runs against every
 * transport. They are deliberately independent of cometa/client: raw node:http for streams (the
 * bytes as the hub sent them) and fetch for polls.
 */
import { request } from 'node:http';
import { WebSocket } from 'ws';
import type { Envelope } from '../../src/protocol/envelope.js';
import { NdjsonParser, SseParser } from '../../src/protocol/framing.js';
import { sleep } from './hub.js';

export type DriverName = 'websocket' | 'sse' | 'stream' | 'longpoll' | 'jsonp' | 'poll';

export interface OpenOptions {
  since?: string;
  last?: number;
  /** Extra query parameters. */
  query?: Record<string, string>;
}

/** What a driver collects. */
export interface TestSubscription {
  /** Envelopes received (messages and hub events), in order. */
  envelopes: Envelope[];
  /** Control frames (open/close) received by streams. */
  controls: Array<{ event: string; cursor: string; reason?: string }>;
  /** Heartbeats seen (streams). */
  heartbeats: number;
  /** The cursor to resume from (last message id, else the last answer/open cursor). */
  cursor: string | undefined;
  /** Resolves when the hub ended the subscription (stream closed / poll loop stopped by close()). */
  ended: Promise<void>;
  /** Waits until `n` envelopes arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<Envelope[]>;
  close(): void;
}

const JSONP_RE = /^\/\*\*\/([\w$.]+)\(([\s\S]*)\);$/;

function base(): Omit<TestSubscription, 'ended' | 'close'> {
  const sub = {
    envelopes: [] as Envelope[],
    controls: [] as TestSubscription['controls'],
    heartbeats: 0,
    cursor: undefined as string | undefined,
    async waitFor(n: number, timeoutMs = 15_000): Promise<Envelope[]> {
      const end = Date.now() + timeoutMs;
      while (sub.envelopes.length < n) {
        if (Date.now() > end) {
          throw new Error(
            `got ${sub.envelopes.length} envelopes, wanted ${n}: ${JSON.stringify(sub.envelopes)}`,
          );
        }
        await sleep(5);
      }
      return sub.envelopes;
    },
  };
  return sub;
}

function onValue(sub: ReturnType<typeof base>, v: unknown): void {
  const o = v as Envelope & { cursor?: string };
  if (typeof o.channel === 'string') {
    sub.envelopes.push(o);
    if (typeof o.id === 'string') sub.cursor = o.id;
  } else {
    sub.controls.push(o as unknown as TestSubscription['controls'][number]);
    if (sub.cursor === undefined && typeof o.cursor === 'string') sub.cursor = o.cursor;
  }
}

function subUrl(hubUrl: string, channels: string[], o: OpenOptions, extra: Record<string, string>): string {
  const q = new URLSearchParams(extra);
  if (o.since !== undefined) q.set('since', o.since);
  if (o.last !== undefined) q.set('last', String(o.last));
  for (const [k, v] of Object.entries(o.query ?? {})) q.set(k, v);
  const qs = q.toString();
  return `${hubUrl}/sub/${channels.join(',')}${qs ? `?${qs}` : ''}`;
}

function openStream(
  kind: 'sse' | 'stream',
  hubUrl: string,
  channels: string[],
  o: OpenOptions,
): TestSubscription {
  const sub = base();
  const url = subUrl(hubUrl, channels, o, kind === 'stream' ? { transport: 'stream' } : {});
  let resolveEnded!: () => void;
  const ended = new Promise<void>((r) => {
    resolveEnded = r;
  });
  const parser =
    kind === 'sse'
      ? new SseParser(
          (e) => onValue(sub, JSON.parse(e.data)),
          () => sub.heartbeats++,
        )
      : new NdjsonParser(
          (v) => onValue(sub, v),
          () => sub.heartbeats++,
        );
  const req = request(url, { headers: kind === 'sse' ? { accept: 'text/event-stream' } : {} }, (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      resolveEnded();
      return;
    }
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => parser.push(chunk));
    res.on('end', resolveEnded);
    res.on('close', resolveEnded);
    res.on('error', resolveEnded);
  });
  req.on('error', resolveEnded);
  req.end();
  return Object.assign(sub, { ended, close: () => req.destroy() });
}

function openPoll(
  kind: 'longpoll' | 'jsonp' | 'poll',
  hubUrl: string,
  channels: string[],
  o: OpenOptions,
): TestSubscription {
  const sub = base();
  const ac = new AbortController();
  let first = true;
  /** The last answer's presence cursor, sent back as `psince` (joins and leaves between polls). */
  let pcursor: string | undefined;
  const loop = async () => {
    while (!ac.signal.aborted) {
      const extra: Record<string, string> = {};
      if (kind === 'jsonp') extra.callback = 'cb.receive';
      if (kind === 'poll') extra.mode = 'poll';
      const opts: OpenOptions = first
        ? o
        : {
            ...(sub.cursor ? { since: sub.cursor } : {}),
            query: { ...o.query, ...(pcursor ? { psince: pcursor } : {}) },
          };
      first = false;
      let text: string;
      try {
        const res = await fetch(subUrl(hubUrl, channels, opts, extra), { signal: ac.signal });
        text = await res.text();
        // A poll that arrives once the hub is closing is refused: the subscription has ended.
        if (res.status === 503 && text.includes('ERR_SHUTTING_DOWN')) return;
        if (res.status !== 200) throw new Error(`poll answered ${res.status}: ${text}`);
      } catch (err) {
        if (ac.signal.aborted) return;
        // The hub went away (graceful close answers, then the server stops): the loop ends.
        if ((err as Error).message.startsWith('poll answered')) throw err;
        return;
      }
      let answer: { messages: Envelope[]; cursor: string; pcursor?: string; error?: { code: string } };
      if (kind === 'jsonp') {
        const m = JSONP_RE.exec(text);
        if (m?.[1] !== 'cb.receive') throw new Error(`not a JSONP answer: ${text}`);
        answer = JSON.parse(m[2] ?? '');
        // JSONP errors arrive as script with status 200 (docs/cross-origin.md).
        if (answer.error?.code === 'ERR_SHUTTING_DOWN') return;
        if (answer.error) throw new Error(`poll answered ${text}`);
      } else answer = JSON.parse(text);
      for (const e of answer.messages) onValue(sub, e);
      sub.cursor = answer.cursor;
      pcursor = answer.pcursor;
      if (kind === 'poll') await sleep(20);
    }
  };
  const ended = loop();
  return Object.assign(sub, { ended, close: () => ac.abort() });
}

/** WebSocket with the `ws` package: text frames are envelopes or control frames; pings count as heartbeats. */
function openWebSocket(hubUrl: string, channels: string[], o: OpenOptions): TestSubscription {
  const sub = base();
  const ws = new WebSocket(subUrl(hubUrl.replace(/^http/, 'ws'), channels, o, {}));
  const ended = new Promise<void>((resolve) => {
    ws.on('close', () => resolve());
    ws.on('error', () => resolve());
  });
  ws.on('message', (data) => onValue(sub, JSON.parse(data.toString())));
  ws.on('ping', () => sub.heartbeats++);
  return Object.assign(sub, { ended, close: () => ws.terminate() });
}

/** Opens a subscription with the named driver. */
export function openSubscription(
  kind: DriverName,
  hubUrl: string,
  channels: string[],
  o: OpenOptions = {},
): TestSubscription {
  // Drivers return the very object they mutate, so `cursor` and `heartbeats` read live.
  if (kind === 'websocket') return openWebSocket(hubUrl, channels, o);
  return kind === 'sse' || kind === 'stream'
    ? openStream(kind, hubUrl, channels, o)
    : openPoll(kind, hubUrl, channels, o);
}
