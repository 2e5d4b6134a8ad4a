/**
 * Every script the hub writes must run in the engines JSONP exists for: before ES2019 a raw
 * U+2028/U+2029 inside a string literal is a line terminator, so a SyntaxError. Each answer is
 * compiled as such an engine reads it (those two characters turned into newlines) and run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runInNewContext, Script } from 'node:vm';
import { publish, startHub, type TestHub } from '../helpers/hub.js';

let t: TestHub;
before(async () => {
  t = await startHub({ channels: [{ pattern: 'js.**', publishGet: true }] });
});
after(() => t.close());

const LS = '\u2028';
const PS = '\u2029';

/** Compiles `source` as a pre-ES2019 engine tokenizes it and returns what it passes to `cb`. */
function runOld(source: string): unknown {
  // Throws a SyntaxError (unterminated string) if a raw separator sits in a string literal.
  const script = new Script(source.replace(/[\u2028\u2029]/g, '\n'));
  const seen: unknown[] = [];
  // Back through JSON: values built in another context have that context's prototypes.
  script.runInNewContext({ cb: (v: unknown) => seen.push(JSON.stringify(v)) });
  assert.equal(seen.length, 1, 'the callback ran once');
  return JSON.parse(seen[0] as string);
}

async function script(path: string): Promise<string> {
  const res = await fetch(`${t.url}${path}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/javascript/);
  const text = await res.text();
  assert.ok(!text.includes(LS) && !text.includes(PS), `raw separator in ${JSON.stringify(text)}`);
  return text;
}

describe('JSONP scripts escape U+2028 and U+2029', () => {
  it('a subscribe answer of one message (the shared poll bytes)', async () => {
    const data = `a${LS}b${PS}c`;
    const id = await publish(t.url, 'js.one', data);
    const got = runOld(await script('/sub/js.one?callback=cb&mode=poll&last=1')) as {
      messages: Array<{ data: unknown }>;
      cursor: string;
    };
    assert.equal(got.messages[0]!.data, data);
    assert.equal(got.cursor, id);
  });

  it('a subscribe answer of several messages, and a held one answered live', async () => {
    await publish(t.url, 'js.many', { k: LS });
    await publish(t.url, 'js.many', [PS, LS]);
    const many = runOld(await script('/sub/js.many?callback=cb&mode=poll&last=2')) as {
      messages: Array<{ data: unknown }>;
    };
    assert.deepEqual(
      many.messages.map((m) => m.data),
      [{ k: LS }, [PS, LS]],
    );
    const held = script('/sub/js.live?callback=cb');
    await new Promise((r) => setTimeout(r, 100));
    await publish(t.url, 'js.live', `${PS}`);
    const live = runOld(await held) as { messages: Array<{ data: unknown }> };
    assert.equal(live.messages[0]!.data, PS);
  });

  it('a JSONP publish, its answer and an error that quotes the input', async () => {
    const ok = runOld(await script(`/pub/js.pub?callback=cb&data=${encodeURIComponent(`x${LS}y`)}`)) as {
      id: string;
    };
    const res = await fetch(`${t.url}/sub/js.pub?mode=poll&last=1`);
    const body = (await res.json()) as { messages: Array<{ id: string; data: unknown }> };
    assert.equal(body.messages[0]!.id, ok.id);
    assert.equal(body.messages[0]!.data, `x${LS}y`);
    // JSON.parse's message quotes the text it refused, separators included.
    const bad = runOld(
      await script(`/pub/js.pub?callback=cb&format=json&data=${encodeURIComponent(`x${LS}`)}`),
    ) as { error: { code: string; message: string; status: number } };
    assert.equal(bad.error.code, 'ERR_BAD_BODY');
    assert.ok(bad.error.message.includes(LS), bad.error.message);
    assert.equal(bad.error.status, 400);
  });

  it('the escapes leave the JSON it wraps the same value', () => {
    // Sanity of the judge itself: the raw form is refused by the pre-ES2019 reading.
    assert.throws(() => runOld(`cb("${LS}")`), SyntaxError);
    assert.equal(runInNewContext('"\\u2028"'), LS);
  });
});
