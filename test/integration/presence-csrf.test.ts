// Presence and ambient credentials: a browser attaches the session cookie to requests any page
// makes, so a cross-site page must not be able to make its visitor a member (joining a room in
// the visitor's name, with the visitor's info, for every other member to see). The hub's own pages
// and allowed origins still join with the cookie.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { sleep, startHub, type TestHub } from '../helpers/hub.js';

const secret = 'presence-csrf-secret-of-32-bytes!!!!';
const token = () =>
  new SignJWT({ cometa: { subscribe: ['**'] }, info: { name: 'Alice' } })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));

/** Opens a subscription with `headers`, waits for it to settle, and answers the channel's members. */
async function membersAfter(t: TestHub, path: string, headers: Record<string, string>): Promise<string[]> {
  const ac = new AbortController();
  const res = await fetch(`${t.url}${path}`, { headers, signal: ac.signal });
  const channel = path.slice(5).split('?')[0]!;
  await sleep(150);
  const snap = (await (
    await fetch(`${t.url}/presence/${channel}`, { headers: { authorization: `Bearer ${await token()}` } })
  ).json()) as {
    members: Array<{ member: string }>;
  };
  ac.abort();
  await res.body?.cancel().catch(() => {});
  return snap.members.map((m) => m.member);
}

describe('presence: ambient credentials from a cross-site page', () => {
  let t: TestHub;
  let cookie: string;
  let n = 0;
  const room = () => `room.r${++n}`;
  const priv = () => `priv.p${++n}`;
  before(async () => {
    t = await startHub({
      auth: { key: secret },
      cors: { origins: ['https://app.example'] },
      channels: [
        { pattern: 'room.*', presence: true, subscribe: 'public' },
        { pattern: 'priv.*', presence: true },
      ],
      presence: { coalesceMs: 0 },
    });
    cookie = `cometa_token=${await token()}`;
  });
  after(() => t.close());

  it('a cross-origin EventSource with the cookie subscribes but is no member (public and private channels)', async () => {
    const evil = { cookie, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };
    assert.deepEqual(await membersAfter(t, `/sub/${room()}?transport=sse`, evil), []);
    assert.deepEqual(await membersAfter(t, `/sub/${priv()}?transport=sse`, evil), []);
    assert.deepEqual(await membersAfter(t, `/sub/${priv()}?mode=poll`, { ...evil, origin: 'null' }), []);
  });

  it('a cross-site <script> (JSONP: no Origin) with the cookie is no member', async () => {
    const script = { cookie, 'sec-fetch-site': 'cross-site' };
    assert.deepEqual(await membersAfter(t, `/sub/${room()}?transport=jsonp&callback=cb`, script), []);
    // Without Sec-Fetch-Site (older browsers) a script tag proves nothing either.
    assert.deepEqual(await membersAfter(t, `/sub/${room()}?transport=jsonp&callback=cb`, { cookie }), []);
  });

  it('the hub’s own pages, allowed origins and tokens the page sends itself still join', async () => {
    assert.deepEqual(
      await membersAfter(t, `/sub/${room()}?transport=sse`, { cookie, 'sec-fetch-site': 'same-origin' }),
      ['alice'],
    );
    assert.deepEqual(
      await membersAfter(t, `/sub/${priv()}?transport=sse`, { cookie, origin: 'https://app.example' }),
      ['alice'],
    );
    const host = new URL(t.url).host;
    assert.deepEqual(
      await membersAfter(t, `/sub/${room()}?transport=sse`, { cookie, origin: `http://${host}` }),
      ['alice'],
    );
    // A token in the URL is no ambient credential: the page had to know it.
    assert.deepEqual(
      await membersAfter(t, `/sub/${room()}?transport=sse&token=${await token()}`, {
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      }),
      ['alice'],
    );
  });
});
