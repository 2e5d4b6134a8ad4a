// The Ajax test server: node:http on 127.0.0.1, port 0, with the endpoints the client suites need.
// It listens on two ports (two origins) so that tests can make cross-origin requests. Every request
// is recorded, so tests can ask what the server saw (`hits(key)`, keyed by the `key` query param).
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A request the server received. */
export interface Hit {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Milliseconds since the server started. */
  at: number;
}

export interface AjaxServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** A second origin (another port) for cross-origin requests. */
  crossOrigin: string;
  /** Requests received with `?key=<key>`, in order. */
  hits(key: string): Hit[];
  close(): Promise<void>;
}

const BLANK =
  '<!doctype html><html><head><meta charset="utf-8"><title>cometa test</title></head><body></body></html>';
const XML = '<?xml version="1.0"?><root><item id="1">one</item><item id="2">two</item></root>';
// The smallest GIF: a 1x1 transparent pixel.
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** The built bundle, read once: another engineer's build may be rewriting dist/ meanwhile. */
async function readBundle(): Promise<Buffer> {
  for (let i = 0; ; i++) {
    try {
      return readFileSync('dist/cometa.min.js');
    } catch (e) {
      if (i > 60) throw e;
      await sleep(500);
    }
  }
}

function readBody(req: IncomingMessage, slow: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // The slow sink reads at about 8 MB/s, so an upload outlasts what loopback socket buffers
      // absorb at once (a few MB) and the browser reports progress along the way.
      if (slow) {
        req.pause();
        setTimeout(() => req.resume(), Math.max(15, chunk.length / 8192));
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startAjaxServer(): Promise<AjaxServer> {
  const bundle = await readBundle();
  const log = new Map<string, Hit[]>();
  const attempts = new Map<string, number>();
  const started = Date.now();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = Object.fromEntries(url.searchParams);
    const path = url.pathname;
    const body = await readBody(req, path === '/upload');
    const hit: Hit = {
      method: req.method ?? '',
      path,
      query: q,
      headers: req.headers,
      body: body.toString('utf8'),
      at: Date.now() - started,
    };
    if (q.key) log.set(q.key, [...(log.get(q.key) ?? []), hit]);

    // CORS for the cross-origin tests: any origin, credentials, the custom headers exposed.
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Expose-Headers', 'X-Multi, X-Custom, ETag, Retry-After');
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE');
      res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? '');
      res.writeHead(204).end();
      return;
    }
    const send = (
      status: number,
      type: string,
      data: string | Buffer,
      headers: Record<string, string> = {},
    ) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers }).end(data);
    };
    const json = (status: number, data: unknown, headers?: Record<string, string>) =>
      send(status, 'application/json', JSON.stringify(data), headers);

    if (q.delay) await sleep(Number(q.delay));
    switch (path) {
      case '/':
        return send(200, 'text/html; charset=utf-8', BLANK);
      case '/cometa.min.js':
        return send(200, 'text/javascript', bundle);
      case '/echo':
        return json(Number(q.status ?? 200), {
          method: hit.method,
          url: req.url,
          query: [...url.searchParams],
          headers: req.headers,
          body: hit.body,
        });
      case '/status':
        return json(
          Number(q.code),
          { error: `status ${q.code}` },
          q.retryAfter ? { 'Retry-After': q.retryAfter } : {},
        );
      case '/flaky': {
        // Fails `fail` times with `status` (and Retry-After when given), then succeeds.
        const n = (attempts.get(q.key ?? '') ?? 0) + 1;
        attempts.set(q.key ?? '', n);
        if (n <= Number(q.fail ?? 1)) {
          return json(
            Number(q.status ?? 503),
            { attempt: n },
            q.retryAfter ? { 'Retry-After': q.retryAfter } : {},
          );
        }
        return json(200, { attempt: n });
      }
      case '/large': {
        // A body of `size` bytes with Content-Length, written in pieces so progress events can fire.
        const size = Number(q.size ?? 1 << 20);
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) });
        const piece = Buffer.alloc(64 * 1024, 97);
        for (let sent = 0; sent < size; sent += piece.length) {
          res.write(piece.subarray(0, Math.min(piece.length, size - sent)));
          await sleep(5);
        }
        res.end();
        return;
      }
      case '/upload':
        return json(200, { received: body.length });
      case '/xml':
        return send(200, q.type ?? 'application/xml', q.bad ? '<root><unclosed></root>' : XML);
      case '/text':
        return send(200, q.type ?? 'text/plain', q.body ?? 'hello');
      case '/headers':
        res.setHeader('X-Multi', ['a', 'b']);
        res.setHeader('X-Custom', 'Value');
        return json(200, { ok: true });
      case '/etag': {
        const tag = '"v1"';
        if (req.headers['if-none-match'] === tag) {
          res.writeHead(304, { ETag: tag }).end();
          return;
        }
        return send(200, 'text/plain', 'fresh', { ETag: tag });
      }
      case '/jsonp': {
        const cb = q[q.param ?? 'callback'] ?? '';
        if (q.mode === 'never') return send(200, 'text/javascript', 'var cometaNeverCalled = 1;');
        if (q.mode === 'error') return send(500, 'text/javascript', `${cb}({"error":true});`);
        return send(200, 'text/javascript', `${cb}(${JSON.stringify({ hello: 'jsonp', query: q })});`);
      }
      case '/pixel.gif':
        return send(200, 'image/gif', GIF);
      case '/beacon':
        return send(204, 'text/plain', '');
      case '/form-sink':
        return send(200, 'text/html', '<!doctype html><p>received</p>');
      default:
        return json(404, { error: 'not found' });
    }
  }

  const listen = async (): Promise<Server> => {
    const server = createServer((req, res) => {
      handle(req, res).catch((e) => {
        if (!res.headersSent) res.writeHead(500).end(String(e));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return server;
  };
  const a = await listen();
  const b = await listen();
  const base = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  return {
    origin: base(a),
    crossOrigin: base(b),
    hits: (key) => log.get(key) ?? [],
    close: async () => {
      for (const s of [a, b]) {
        s.closeAllConnections();
        await new Promise((resolve) => s.close(resolve));
      }
    },
  };
}
