/**
 * The requests of test/integration/conformance.test.ts, as raw bytes (any form: HTTP/1.0,
 * absolute-form and asterisk-form targets, duplicate headers, WebSocket handshakes), each with the
 * status the hub must answer and, where it matters, a check of its own.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type Case, type Judged, one } from './h11.js';

export const ORIGIN_OK = 'http://app.example';
const KEY = Buffer.from('conformance-key!').toString('base64');
export const ACCEPT = createHash('sha1')
  .update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
  .digest('base64');

const req = (line: string, headers: string[] = [], body = '') =>
  `${line}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
const withBody = (line: string, type: string, body: string, headers: string[] = []) =>
  req(
    line,
    ['Host: judge', `Content-Type: ${type}`, `Content-Length: ${Buffer.byteLength(body)}`, ...headers],
    body,
  );
const get = (target: string, headers: string[] = [], version = '1.1') =>
  req(`GET ${target} HTTP/${version}`, version === '1.1' ? ['Host: judge', ...headers] : headers);
const upgrade = (target: string, extra: string[] = [], method = 'GET', version = '13') =>
  req(`${method} ${target} HTTP/1.1`, [
    'Host: judge',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${KEY}`,
    `Sec-WebSocket-Version: ${version}`,
    ...extra,
  ]);

function jsonError(code: string) {
  return (r: Judged) => assert.equal(JSON.parse(r.body).error.code, code, r.body);
}

export function cases(etag: string): Case[] {
  const multipart = '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n';
  return [
    // Publishing
    {
      id: 'POST json',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'application/json', '{"a":1}'),
      method: 'POST',
      status: 202,
    },
    {
      id: 'POST text',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'text/plain', 'hi'),
      method: 'POST',
      status: 202,
    },
    {
      id: 'POST form',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'application/x-www-form-urlencoded', 'a=1'),
      method: 'POST',
      status: 202,
    },
    {
      id: 'POST multipart',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'multipart/form-data; boundary=b', multipart),
      method: 'POST',
      status: 202,
    },
    {
      id: 'POST chunked',
      raw: req(
        'POST /pub/c.a HTTP/1.1',
        ['Host: judge', 'Content-Type: text/plain', 'Transfer-Encoding: chunked'],
        '2\r\nhi\r\n0\r\n\r\n',
      ),
      method: 'POST',
      status: 202,
    },
    {
      id: 'POST HTTP/1.0',
      raw: req('POST /pub/c.a HTTP/1.0', ['Content-Type: text/plain', 'Content-Length: 2'], 'hi'),
      method: 'POST',
      status: 202,
    },
    {
      id: 'POST absolute-form',
      raw: withBody('POST http://judge/pub/c.a HTTP/1.1', 'text/plain', 'hi'),
      method: 'POST',
      status: 202,
    },
    {
      id: 'POST Expect: 100-continue',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'text/plain', 'hi', ['Expect: 100-continue']),
      method: 'POST',
      status: 202,
    },
    {
      id: 'POST Expect: unknown',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'text/plain', 'hi', ['Expect: teapot']),
      method: 'POST',
      status: 417,
    },
    {
      id: 'POST Connection: close',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'text/plain', 'hi', ['Connection: close']),
      method: 'POST',
      status: 202,
      check: (r) => assert.ok(r.closed),
    },
    {
      id: 'POST too large',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'text/plain', 'x'.repeat(5000)),
      method: 'POST',
      status: 413,
      check: jsonError('ERR_BODY_TOO_LARGE'),
    },
    {
      id: 'POST bad JSON',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'application/json', '{'),
      method: 'POST',
      status: 400,
      check: jsonError('ERR_BAD_BODY'),
    },
    {
      id: 'POST bad type',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'image/png', 'x'),
      method: 'POST',
      status: 415,
    },
    {
      id: 'POST bad channel',
      raw: withBody('POST /pub/c..a HTTP/1.1', 'text/plain', 'x'),
      method: 'POST',
      status: 400,
    },
    {
      id: 'POST foreign Origin',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'text/plain', 'x', ['Origin: https://evil.example']),
      method: 'POST',
      status: 403,
    },
    { id: 'GET info', raw: get('/pub/c.a'), method: 'GET', status: 200 },
    { id: 'HEAD info', raw: req('HEAD /pub/c.a HTTP/1.1', ['Host: judge']), method: 'HEAD', status: 200 },
    { id: 'GET JSONP publish', raw: get('/pub/c.a?callback=cb&data=x'), method: 'GET', status: 200 },
    { id: 'DELETE', raw: req('DELETE /pub/c.del HTTP/1.1', ['Host: judge']), method: 'DELETE', status: 200 },
    {
      id: 'OPTIONS pub',
      raw: req('OPTIONS /pub/c.a HTTP/1.1', ['Host: judge']),
      method: 'OPTIONS',
      status: [200, 204],
    },
    {
      id: 'OPTIONS preflight',
      raw: req('OPTIONS /pub/c.a HTTP/1.1', [
        'Host: judge',
        `Origin: ${ORIGIN_OK}`,
        'Access-Control-Request-Method: POST',
      ]),
      method: 'OPTIONS',
      status: [200, 204],
    },
    { id: 'PUT pub', raw: withBody('PUT /pub/c.a HTTP/1.1', 'text/plain', 'x'), method: 'PUT', status: 405 },
    {
      id: 'PATCH pub',
      raw: withBody('PATCH /pub/c.a HTTP/1.1', 'text/plain', 'x'),
      method: 'PATCH',
      status: 405,
    },
    {
      id: 'PROPFIND pub',
      raw: req('PROPFIND /pub/c.a HTTP/1.1', ['Host: judge']),
      method: 'PROPFIND',
      status: [405, 501],
    },
    // Subscribing
    { id: 'poll', raw: get('/sub/c.a?mode=poll&last=1'), method: 'GET', status: 200 },
    { id: 'poll HTTP/1.0', raw: get('/sub/c.a?mode=poll&last=1', [], '1.0'), method: 'GET', status: 200 },
    { id: 'long-poll timeout', raw: get('/sub/c.quiet?timeout=1'), method: 'GET', status: 200 },
    { id: 'JSONP poll', raw: get('/sub/c.a?callback=cb&mode=poll'), method: 'GET', status: 200 },
    {
      id: 'HEAD sub',
      raw: req('HEAD /sub/c.a?mode=poll HTTP/1.1', ['Host: judge']),
      method: 'HEAD',
      status: 200,
    },
    {
      id: 'OPTIONS sub',
      raw: req('OPTIONS /sub/c.a HTTP/1.1', ['Host: judge']),
      method: 'OPTIONS',
      status: [200, 204],
    },
    {
      id: 'POST sub',
      raw: withBody('POST /sub/c.a HTTP/1.1', 'text/plain', 'x'),
      method: 'POST',
      status: 405,
    },
    { id: 'sub bad transport', raw: get('/sub/c.a?transport=nope'), method: 'GET', status: 400 },
    { id: 'sub bad channel', raw: get('/sub/c..a'), method: 'GET', status: 400 },
    {
      id: 'SSE head',
      raw: get('/sub/c.a', ['Accept: text/event-stream']),
      method: 'GET',
      mode: 'stream',
      status: 200,
      check: (r) => {
        const a = r.answers.at(-1)!;
        assert.match(one(a, 'content-type') ?? '', /^text\/event-stream/);
        assert.equal(one(a, 'transfer-encoding'), undefined);
        assert.equal(one(a, 'content-length'), undefined);
        assert.match(r.body, /^retry: \d+\nid: \S+\nevent: cometa\.open\n/);
      },
    },
    {
      id: 'SSE HTTP/1.0',
      raw: get('/sub/c.a', ['Accept: text/event-stream'], '1.0'),
      method: 'GET',
      mode: 'stream',
      status: 200,
      check: (r) => assert.match(r.body, /event: cometa\.open/),
    },
    {
      id: 'NDJSON stream head',
      raw: get('/sub/c.a?transport=stream'),
      method: 'GET',
      mode: 'stream',
      status: 200,
      check: (r) => {
        assert.equal(one(r.answers.at(-1)!, 'transfer-encoding'), 'chunked');
        assert.match(r.body, /^\{"event":"open"/);
      },
    },
    {
      id: 'NDJSON stream HTTP/1.0',
      raw: get('/sub/c.a?transport=stream', [], '1.0'),
      method: 'GET',
      mode: 'stream',
      status: 200,
      check: (r) => {
        // RFC 9112 §6.1: never chunked to an HTTP/1.0 recipient.
        assert.equal(one(r.answers.at(-1)!, 'transfer-encoding'), undefined);
        assert.match(r.body, /^\{"event":"open"[^\n]*\n/);
      },
    },
    // Pings
    { id: 'GET ping image', raw: get('/ping/c.p?x=1', ['Accept: image/*']), method: 'GET', status: 200 },
    { id: 'GET ping', raw: get('/ping/c.p?x=1'), method: 'GET', status: 204 },
    {
      id: 'POST ping',
      raw: withBody('POST /ping/c.p HTTP/1.1', 'application/x-www-form-urlencoded', 'a=1'),
      method: 'POST',
      status: 204,
    },
    {
      id: 'HEAD ping',
      raw: req('HEAD /ping/c.p HTTP/1.1', ['Host: judge', 'Accept: image/*']),
      method: 'HEAD',
      status: 200,
    },
    {
      id: 'OPTIONS ping',
      raw: req('OPTIONS /ping/c.p HTTP/1.1', ['Host: judge']),
      method: 'OPTIONS',
      status: [200, 204],
    },
    // Presence
    { id: 'GET presence', raw: get('/presence/c.a'), method: 'GET', status: 200 },
    {
      id: 'HEAD presence',
      raw: req('HEAD /presence/c.a HTTP/1.1', ['Host: judge']),
      method: 'HEAD',
      status: 200,
    },
    {
      id: 'POST presence',
      raw: withBody('POST /presence/c.a HTTP/1.1', 'text/plain', 'x'),
      method: 'POST',
      status: 405,
    },
    {
      id: 'OPTIONS presence',
      raw: req('OPTIONS /presence/c.a HTTP/1.1', ['Host: judge']),
      method: 'OPTIONS',
      status: 204,
    },
    // Fixed resources
    { id: 'GET /cometa.js', raw: get('/cometa.js'), method: 'GET', status: 200 },
    {
      id: 'HEAD /cometa.js',
      raw: req('HEAD /cometa.js HTTP/1.1', ['Host: judge']),
      method: 'HEAD',
      status: 200,
    },
    { id: 'If-None-Match', raw: get('/cometa.js', [`If-None-Match: ${etag}`]), method: 'GET', status: 304 },
    {
      id: 'If-None-Match list',
      raw: get('/cometa.js', [`If-None-Match: "zz", W/${etag}`]),
      method: 'GET',
      status: 304,
    },
    { id: 'If-None-Match *', raw: get('/cometa.js', ['If-None-Match: *']), method: 'GET', status: 304 },
    {
      id: 'If-None-Match other',
      raw: get('/cometa.js', ['If-None-Match: "zz"']),
      method: 'GET',
      status: 200,
    },
    {
      id: 'POST /cometa.js',
      raw: withBody('POST /cometa.js HTTP/1.1', 'text/plain', 'x'),
      method: 'POST',
      status: 405,
    },
    { id: 'GET /healthz', raw: get('/healthz'), method: 'GET', status: 200 },
    { id: 'HEAD /healthz', raw: req('HEAD /healthz HTTP/1.1', ['Host: judge']), method: 'HEAD', status: 200 },
    {
      id: 'POST /healthz',
      raw: withBody('POST /healthz HTTP/1.1', 'text/plain', 'x'),
      method: 'POST',
      status: 405,
    },
    {
      id: 'OPTIONS /healthz',
      raw: req('OPTIONS /healthz HTTP/1.1', ['Host: judge']),
      method: 'OPTIONS',
      status: [200, 204],
    },
    { id: 'GET /readyz', raw: get('/readyz'), method: 'GET', status: 200 },
    { id: 'GET /metrics', raw: get('/metrics'), method: 'GET', status: 200 },
    { id: 'HEAD /metrics', raw: req('HEAD /metrics HTTP/1.1', ['Host: judge']), method: 'HEAD', status: 200 },
    {
      id: 'DELETE /metrics',
      raw: req('DELETE /metrics HTTP/1.1', ['Host: judge']),
      method: 'DELETE',
      status: 405,
    },
    { id: 'GET unknown', raw: get('/nothing/here'), method: 'GET', status: 404 },
    { id: 'HEAD unknown', raw: req('HEAD /nothing HTTP/1.1', ['Host: judge']), method: 'HEAD', status: 404 },
    {
      id: 'OPTIONS *',
      raw: req('OPTIONS * HTTP/1.1', ['Host: judge']),
      method: 'OPTIONS',
      status: [200, 204],
    },
    { id: 'GET absolute-form', raw: get('http://judge/healthz'), method: 'GET', status: 200 },
    {
      id: 'GET absolute-form https',
      raw: get('HTTPS://judge:8443/sub/c.a?mode=poll'),
      method: 'GET',
      status: 200,
    },
    // Request heads the hub must refuse (RFC 9112 §3.2: Host)
    { id: 'no Host', raw: req('GET /healthz HTTP/1.1'), method: 'GET', status: 400 },
    {
      id: 'two Hosts',
      raw: req('GET /healthz HTTP/1.1', ['Host: judge', 'Host: other']),
      method: 'GET',
      status: 400,
    },
    { id: 'bad Host', raw: req('GET /healthz HTTP/1.1', ['Host: ju dge/x']), method: 'GET', status: 400 },
    { id: 'HTTP/1.0 no Host', raw: req('GET /healthz HTTP/1.0'), method: 'GET', status: 200 },
    {
      id: 'two Content-Types',
      raw: withBody('POST /pub/c.a HTTP/1.1', 'text/plain', 'x', ['Content-Type: application/json']),
      method: 'POST',
      status: 400,
    },
    { id: 'not HTTP', raw: 'HELLO\r\n\r\n', method: 'GET', status: 400 },
    // RFC 9110 §9.1 suggests 501; Node's parser knows no such method and the hub answers every
    // request it cannot read with a 4xx (as the fuzz suite requires), the same on both paths.
    {
      id: 'unknown method',
      raw: req('BREW /pub/c.a HTTP/1.1', ['Host: judge']),
      method: 'BREW',
      status: 400,
    },
    {
      id: 'head too large',
      raw: get('/healthz', [`X-Big: ${'a'.repeat(20_000)}`]),
      method: 'GET',
      status: 431,
    },
    {
      id: 'CONNECT',
      raw: req('CONNECT judge:443 HTTP/1.1', ['Host: judge:443']),
      method: 'CONNECT',
      status: 405,
    },
    // WebSocket handshakes (RFC 6455 §4.2)
    {
      id: 'WebSocket 101',
      raw: upgrade('/sub/c.a'),
      method: 'GET',
      upgrade: true,
      status: 101,
      check: (r) => assert.equal(one(r.answers.at(-1)!, 'sec-websocket-protocol'), undefined),
    },
    {
      id: 'WebSocket subprotocol not echoed',
      raw: upgrade('/sub/c.a', ['Sec-WebSocket-Protocol: chat, superchat']),
      method: 'GET',
      upgrade: true,
      status: 101,
      check: (r) => assert.equal(one(r.answers.at(-1)!, 'sec-websocket-protocol'), undefined),
    },
    {
      id: 'WebSocket version 12',
      raw: upgrade('/sub/c.a', [], 'GET', '12'),
      method: 'GET',
      upgrade: true,
      status: 426,
      check: (r) => {
        const a = r.answers.at(-1)!;
        assert.match(one(a, 'sec-websocket-version') ?? '', /\b13\b/);
        assert.match(one(a, 'upgrade') ?? '', /websocket/i);
      },
    },
    {
      id: 'WebSocket no key',
      raw: req('GET /sub/c.a HTTP/1.1', [
        'Host: judge',
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Version: 13',
      ]),
      method: 'GET',
      upgrade: true,
      status: 400,
    },
    {
      id: 'WebSocket POST',
      raw: upgrade('/sub/c.a', [], 'POST'),
      method: 'POST',
      upgrade: true,
      status: 405,
    },
    { id: 'WebSocket not /sub', raw: upgrade('/pub/c.a'), method: 'GET', upgrade: true, status: 404 },
    {
      id: 'WebSocket foreign Origin',
      raw: upgrade('/sub/c.a', ['Origin: https://evil.example']),
      method: 'GET',
      upgrade: true,
      status: 403,
    },
    { id: 'WebSocket bad channel', raw: upgrade('/sub/c..a'), method: 'GET', upgrade: true, status: 400 },
  ];
}

/** Refusals for want of credentials, on a hub with `auth`. */
export function authCases(): Case[] {
  const bad = ['Authorization: Bearer not.a.token'];
  return [
    { id: 'sub no token', raw: get('/sub/s.a?mode=poll'), method: 'GET', status: 401 },
    { id: 'sub bad token', raw: get('/sub/s.a?mode=poll', bad), method: 'GET', status: 401 },
    {
      id: 'HEAD sub no token',
      raw: req('HEAD /sub/s.a HTTP/1.1', ['Host: judge']),
      method: 'HEAD',
      status: 401,
    },
    { id: 'SSE no token', raw: get('/sub/s.a', ['Accept: text/event-stream']), method: 'GET', status: 401 },
    {
      id: 'publish no token',
      raw: withBody('POST /pub/s.a HTTP/1.1', 'text/plain', 'x'),
      method: 'POST',
      status: 401,
    },
    {
      id: 'publish bad token',
      raw: withBody('POST /pub/s.a HTTP/1.1', 'text/plain', 'x', bad),
      method: 'POST',
      status: 401,
    },
    { id: 'info no token', raw: get('/pub/s.a'), method: 'GET', status: 401 },
    { id: 'WebSocket no token', raw: upgrade('/sub/s.a'), method: 'GET', upgrade: true, status: 401 },
  ];
}

/** The demo pages and routes, on a hub with `demo: true`. */
export function demoCases(): Case[] {
  return [
    { id: 'GET /', raw: get('/'), method: 'GET', status: 200 },
    { id: 'HEAD /', raw: req('HEAD / HTTP/1.1', ['Host: judge']), method: 'HEAD', status: 200 },
    { id: 'POST /', raw: withBody('POST / HTTP/1.1', 'text/plain', 'x'), method: 'POST', status: 405 },
    { id: 'OPTIONS /', raw: req('OPTIONS / HTTP/1.1', ['Host: judge']), method: 'OPTIONS', status: 204 },
    { id: 'GET /dashboard', raw: get('/dashboard'), method: 'GET', status: 200 },
    { id: 'GET /demo.css', raw: get('/demo.css'), method: 'GET', status: 200 },
    { id: 'GET missing', raw: get('/missing.html'), method: 'GET', status: 404 },
    {
      id: 'POST missing',
      raw: withBody('POST /missing.html HTTP/1.1', 'text/plain', 'x'),
      method: 'POST',
      status: 404,
    },
    { id: 'GET /demo/kick', raw: get('/demo/kick?channel=demo.x'), method: 'GET', status: 405 },
    {
      id: 'POST /demo/kick',
      raw: withBody('POST /demo/kick?channel=demo.x HTTP/1.1', 'text/plain', ''),
      method: 'POST',
      status: 200,
    },
    {
      id: 'POST /demo/upload',
      raw: withBody('POST /demo/upload HTTP/1.1', 'text/plain', 'x'.repeat(100)),
      method: 'POST',
      status: 200,
    },
  ];
}
