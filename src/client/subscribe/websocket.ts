// WebSocket: envelopes and control frames as JSON text frames.
import type { Connect, WebSocketLike } from './types.js';

export const websocket: Connect = (url, s, o) => {
  const W = o.WebSocket ?? (globalThis as { WebSocket?: WebSocketLike }).WebSocket;
  if (!W) {
    setTimeout(s.x);
    return () => {};
  }
  // Relative hub URLs resolve against the page; http(s) becomes ws(s).
  const base = typeof location === 'object' ? location.href : undefined;
  const ws = new W(new URL(url(''), base).href.replace(/^http/, 'ws'));
  ws.onmessage = (e) => s.f(JSON.parse(e.data as string));
  ws.onclose = ws.onerror = s.x;
  return () => {
    ws.onclose = ws.onmessage = null;
    // Closing a socket that is still connecting reports an error; it is expected here.
    ws.onerror = () => {};
    ws.close();
  };
};
