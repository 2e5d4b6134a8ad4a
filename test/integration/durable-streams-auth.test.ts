/**
 * Access to a Durable Stream is access to its channel `ds.{path}`: with `auth` on, reads need the
 * token's subscribe grant, writes its publish grant, a fork also reads its source, and a stream
 * path that is not a channel name is refused. Appends count against the publish rate limits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type JWTPayload, SignJWT } from 'jose';
import { startHub, type TestHub } from '../helpers/hub.js';

const SECRET = 'test-secret-that-is-long-enough-for-hs256!';
const token = (payload: JWTPayload) =>
  new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
const grants = (subscribe: string[], publish: string[] = []) => ({ cometa: { subscribe, publish } });

describe('Durable Streams under auth', () => {
  let t: TestHub;
  let writer: string;
  let reader: string;
  before(async () => {
    t = await startHub({ auth: { key: SECRET } });
    writer = await token(grants(['ds.team.**'], ['ds.team.**']));
    reader = await token(grants(['ds.team.a']));
  });
  after(() => t.close());

  const req = (
    path: string,
    method: string,
    bearer?: string,
    headers: Record<string, string> = {},
    body?: string,
  ) =>
    fetch(`${t.url}/v1/stream/${path}`, {
      method,
      headers: {
        'content-type': 'text/plain',
        ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
        ...headers,
      },
      ...(body === undefined ? {} : { body }),
    });
  const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  it('reads need the subscribe grant, writes the publish grant', async () => {
    const none = await req('team/a', 'PUT');
    assert.equal(none.status, 401);
    assert.equal(await code(none), 'ERR_UNAUTHORIZED');
    assert.equal((await req('team/a', 'PUT', writer, {}, 'hello')).status, 201);
    const readOnly = await req('team/a', 'POST', reader, {}, 'x');
    assert.equal(readOnly.status, 403);
    assert.equal(await code(readOnly), 'ERR_FORBIDDEN');
    const read = await req('team/a?offset=-1', 'GET', reader);
    assert.equal(read.status, 200);
    assert.equal(await read.text(), 'hello');
    assert.equal((await req('team/a?offset=-1', 'GET')).status, 401);
    assert.equal((await req('team/a', 'HEAD')).status, 401);
    // The reader may not read another stream of the team.
    assert.equal((await req('team/b', 'PUT', writer)).status, 201);
    assert.equal((await req('team/b?offset=-1', 'GET', reader)).status, 403);
    assert.equal((await req('team/a', 'DELETE', reader)).status, 403);
  });

  it('a fork needs to read its source', async () => {
    const other = await token(grants([], ['ds.team.fork']));
    const fork = await req('team/fork', 'PUT', other, { 'stream-forked-from': '/v1/stream/team/a' });
    assert.equal(fork.status, 403);
    const ok = await req('team/fork', 'PUT', writer, { 'stream-forked-from': '/v1/stream/team/a' });
    assert.equal(ok.status, 201);
  });

  it('a path that is not a channel name is refused', async () => {
    const res = await req('team/a%20b', 'PUT', writer);
    assert.equal(res.status, 403);
    assert.equal(await code(res), 'ERR_FORBIDDEN');
  });
});

describe('Durable Streams appends and the publish rate limit', () => {
  let t: TestHub;
  before(async () => {
    t = await startHub({ limits: { publishRatePerIp: 5 } });
  });
  after(() => t.close());

  it('answers 429 with Retry-After past limits.publishRatePerIp, storing nothing', async () => {
    const url = `${t.url}/v1/stream/rate/a`;
    assert.equal(
      (await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain' } })).status,
      201,
    );
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
      statuses.push(res.status);
      if (res.status === 429) retryAfter ??= res.headers.get('retry-after');
      await res.arrayBuffer();
    }
    const accepted = statuses.filter((s) => s === 204).length;
    assert.ok(statuses.includes(429), 'some appends were refused');
    assert.ok(retryAfter !== null);
    const read = await fetch(`${url}?offset=-1`);
    assert.equal((await read.text()).length, accepted, 'only the accepted appends were stored');
  });
});
