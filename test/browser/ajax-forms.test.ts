// Form serialization in real Chromium: formEntries()/formData() against the browser's own
// `new FormData(form, submitter)`, and serialize() against the body the browser itself submits.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AjaxServer, startAjaxServer } from '../helpers/ajax-server.js';
import { launchBrowser, type TestBrowser, type TestPage } from '../helpers/browser.js';

let server: AjaxServer;
let browser: TestBrowser;
let page: TestPage;

// Everything the entry list has rules for. The submitters are found by id.
const FORM = `
<form id="f" method="post" target="sink">
  <input name="text" value="a b+c&amp;d=é">
  <input name="disabled" value="x" disabled>
  <fieldset disabled>
    <legend><input name="in-first-legend" value="kept"></legend>
    <input name="in-disabled-fieldset" value="skipped">
  </fieldset>
  <input type="checkbox" name="cb-default" checked>
  <input type="checkbox" name="cb-value" value="v" checked>
  <input type="checkbox" name="cb-unchecked" value="no">
  <input type="radio" name="r" value="1"><input type="radio" name="r" value="2" checked>
  <select name="multi" multiple>
    <option selected>o1</option><option value="o2v" selected>o2</option><option>o3</option>
    <optgroup disabled><option selected>o4</option></optgroup><option selected disabled>o5</option>
  </select>
  <select name="single"><option>s1</option><option selected>s2</option></select>
  <select name="no-options"></select>
  <textarea name="ta"></textarea>
  <datalist id="dl"><option value="x"></option><input name="in-datalist" value="dl"></datalist>
  <input value="nameless">
  <input type="hidden" name="_charset_" value="ignored">
  <input name="dir" dirname="dir.dir" value="abc">
  <input type="file" name="none-chosen">
  <input type="file" name="files" multiple>
  <input type="image" id="img" name="img" src="/pixel.gif" alt="go">
  <input type="image" id="img-anon" src="/pixel.gif" alt="go">
  <button id="b1" name="b1" value="v1">Go</button>
  <button id="plain" name="plain" type="button">Not a submitter</button>
  <input type="submit" id="s1" name="s1" value="Send it">
  <input type="reset" name="rs" value="Reset">
  <input type="submit" id="s-disabled" name="sd" value="x" disabled>
  <output name="out">o</output>
  <object name="obj"></object>
  <input name="weird" value="x">
</form>
<input name="associated" form="f" value="from outside">
<form id="other"><button id="foreign">x</button></form>
<iframe name="sink"></iframe>`;

before(async () => {
  server = await startAjaxServer();
  browser = await launchBrowser();
  page = await browser.open(`${server.origin}/`, { scripts: [`${server.origin}/cometa.min.js`] });
  await page.evaluate((html) => {
    document.body.innerHTML = html;
    const form = document.getElementById('f') as HTMLFormElement;
    // Values markup cannot express: newlines of every kind, a lone surrogate, a newline in a name.
    (form.elements.namedItem('ta') as HTMLTextAreaElement).value = 'line1\nline2\r\nline3\rend';
    const weird = form.elements.namedItem('weird') as HTMLInputElement;
    weird.name = 'new\nline';
    weird.value = 'lone \uD800 surrogate';
    const dt = new DataTransfer();
    dt.items.add(new File(['hello'], 'a.txt', { type: 'text/plain' }));
    dt.items.add(new File(['{}'], 'b c.json', { type: 'application/json' }));
    (form.elements.namedItem('files') as HTMLInputElement).files = dt.files;
  }, FORM);
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const SUBMITTERS = [null, 'b1', 's1', 'img', 'img-anon', 's-disabled'];

test('formEntries() and formData() match new FormData(form, submitter) for every submitter', async () => {
  const r = await page.evaluate((ids) => {
    const form = document.getElementById('f') as HTMLFormElement;
    const show = (entries: Iterable<[string, FormDataEntryValue]>) =>
      [...entries].map(([n, v]) => [n, typeof v === 'string' ? v : `File(${v.name},${v.size},${v.type})`]);
    return ids.map((id) => {
      const submitter = id ? document.getElementById(id) : null;
      return {
        id,
        native: show(new FormData(form, submitter)),
        entries: show(cometa.formEntries(form, submitter)),
        formData: show(cometa.formData(form, submitter)),
      };
    });
  }, SUBMITTERS);
  for (const { id, native, entries, formData } of r) {
    // Chromium keeps controls inside a <datalist>, which the standard skips (and so does cometa).
    assert.ok(native.some(([n]) => n === 'in-datalist'));
    const standard = native.filter(([n]) => n !== 'in-datalist');
    assert.deepEqual(entries, standard, `formEntries with submitter ${id}`);
    assert.deepEqual(formData, standard, `formData with submitter ${id}`);
  }
  // The rules were exercised, not skipped: a look at the entries with the b1 submitter.
  const b1 = r.find((x) => x.id === 'b1')!.entries;
  const names = b1.map(([n]) => n);
  assert.deepEqual(names, [
    'text',
    'in-first-legend',
    'cb-default',
    'cb-value',
    'r',
    'multi',
    'multi',
    'single',
    'ta',
    '_charset_',
    'dir',
    'dir.dir',
    'none-chosen',
    'files',
    'files',
    'b1',
    'new\nline',
    'associated',
  ]);
  assert.deepEqual(
    b1.filter(([n]) => /^(cb-default|_charset_|dir\.dir|none-chosen|ta)$/.test(n!)),
    [
      ['cb-default', 'on'],
      ['ta', 'line1\nline2\nline3\nend'],
      ['_charset_', 'UTF-8'],
      ['dir.dir', 'ltr'],
      ['none-chosen', 'File(,0,application/octet-stream)'],
    ],
  );
  assert.ok(r.find((x) => x.id === 'img')!.native.some(([n, v]) => n === 'img.x' && v === '0'));
  assert.ok(r.find((x) => x.id === 'img-anon')!.native.some(([n]) => n === 'x'));
});

test('serialize() equals the urlencoded body Chromium submits, for every submitter', async () => {
  for (const [i, id] of SUBMITTERS.entries()) {
    const key = `form-${i}`;
    const ours = await page.evaluate(
      ({ id, action }) => {
        const form = document.getElementById('f') as HTMLFormElement;
        const submitter = id ? (document.getElementById(id) as HTMLButtonElement) : null;
        form.action = action;
        // A disabled submitter cannot submit; requestSubmit() then submits without one.
        form.requestSubmit(submitter && !submitter.disabled ? submitter : null);
        return cometa.serialize(form, submitter && !submitter.disabled ? submitter : null);
      },
      { id, action: `${server.origin}/form-sink?key=${key}` },
    );
    for (let t = 0; t < 100 && server.hits(key).length === 0; t++) await sleep(50);
    const [hit] = server.hits(key);
    assert.ok(hit, `the browser submitted with submitter ${id}`);
    assert.equal(hit.headers['content-type'], 'application/x-www-form-urlencoded');
    // The same Chromium deviation: it submits the control inside the <datalist>.
    assert.match(hit.body, /&in-datalist=dl&/);
    assert.equal(ours, hit.body.replace('&in-datalist=dl&', '&'), `serialize with submitter ${id}`);
  }
  const sample = server.hits('form-1')[0]!.body;
  assert.match(sample, /^text=a\+b%2Bc%26d%3D%C3%A9&/);
  assert.match(sample, /&ta=line1%0D%0Aline2%0D%0Aline3%0D%0Aend&/);
  assert.match(sample, /&files=a.txt&files=b\+c.json&b1=v1&new%0D%0Aline=lone\+%EF%BF%BD\+surrogate&/);
});

test('a submitter must be a submit button of the form, as for new FormData', async () => {
  const r = await page.evaluate(() => {
    const form = document.getElementById('f') as HTMLFormElement;
    const attempt = (id: string) => {
      const el = document.getElementById(id);
      let native = '';
      let ours = '';
      try {
        new FormData(form, el);
      } catch (e) {
        native = (e as Error).name;
      }
      try {
        cometa.serialize(form, el);
      } catch (e) {
        ours = (e as { code: string }).code;
      }
      return [native, ours];
    };
    return [attempt('plain'), attempt('foreign')];
  });
  assert.deepEqual(r, [
    ['TypeError', 'ERR_BAD_OPTION'],
    ['NotFoundError', 'ERR_BAD_OPTION'],
  ]);
});
