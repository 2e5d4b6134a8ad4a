// Form serialization per the HTML standard: "constructing the entry list" for a form and its
// submitter, then the application/x-www-form-urlencoded serializer (or a FormData for multipart).
import { badOption } from './errors.js';

// A scalar value string: lone surrogates replaced by U+FFFD.
const usv = (s: string) =>
  s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

// Every listed control read through the properties they share with <input>, plus select's options.
type Field = HTMLInputElement & Pick<HTMLSelectElement, 'options'>;

/** One entry of a form's entry list: a name and a string or a File. */
export type FormEntry = [name: string, value: string | File];

/**
 * The form's entry list, in tree order, as a browser submits it: the submitter (if any) included and
 * other buttons left out; disabled controls, unchecked checkboxes and radios, and controls inside a
 * `<datalist>` skipped; every selected, enabled option of a select; a checkbox without `value` as
 * "on"; a file input as its files (an empty file when none is chosen); `_charset_` hidden inputs as
 * "UTF-8"; `dirname` entries. Not emulated: `wrap="hard"` line breaks, form-associated custom elements.
 * @example formEntries(form, event.submitter) // [['q', 'cometa'], ['go', 'Search']]
 */
export function formEntries(form: HTMLFormElement, submitter?: HTMLElement | null): FormEntry[] {
  const s = submitter as Field | null | undefined;
  if (s && (!/^(submit|image)$/.test(s.type) || !/^(BUTTON|INPUT)$/.test(s.tagName) || s.form !== form)) {
    throw badOption('submitter', 'a submit button of the form');
  }
  const list: FormEntry[] = [];
  // form.elements leaves image buttons out; a submitting image button adds its click coordinates,
  // and is in tree order among the other fields.
  const fields = [...(form.elements as unknown as Field[])];
  if (s?.type === 'image') {
    const at = fields.findIndex((f) => s.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING);
    fields.splice(at < 0 ? fields.length : at, 0, s);
  }
  for (const f of fields) {
    const { type, name } = f;
    if (
      !/^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(f.tagName) ||
      f.closest('datalist') ||
      f.matches(':disabled') ||
      (/^(submit|image|reset|button)$/.test(type) && f !== s) ||
      (/^(checkbox|radio)$/.test(type) && !f.checked)
    ) {
      continue;
    }
    if (type === 'image') {
      // The FormData constructor and requestSubmit() have no click, so the coordinate is 0,0.
      list.push([name ? `${name}.x` : 'x', '0'], [name ? `${name}.y` : 'y', '0']);
      continue;
    }
    if (!name) continue;
    if (type === 'file') {
      if (f.files?.length) for (const file of f.files) list.push([name, file]);
      else list.push([name, new File([], '', { type: 'application/octet-stream' })]);
    } else if (f.tagName === 'SELECT') {
      for (const o of f.options) if (o.selected && !o.matches(':disabled')) list.push([name, o.value]);
    } else {
      list.push([name, type === 'hidden' && name.toLowerCase() === '_charset_' ? 'UTF-8' : f.value]);
    }
    // dirname sends the text's direction along, for the types the standard lists.
    if (
      f.dirName &&
      /^(text|search|tel|url|email|password|submit|reset|button|hidden|textarea)$/.test(type)
    ) {
      list.push([f.dirName, f.matches(':dir(rtl)') ? 'rtl' : 'ltr']);
    }
  }
  // Entries hold scalar value strings: a lone surrogate becomes U+FFFD, as FormData makes it.
  return list.map(([n, v]) => [usv(n), typeof v === 'string' ? usv(v) : v]);
}

/**
 * Serializes a form as `application/x-www-form-urlencoded`, as the browser submits it: spaces as
 * `+`, newlines as CRLF, a file as its name. `submitter` is the button that submits it (included).
 * @example serialize(form) // 'q=cometa+client&lang=en'
 */
export function serialize(form: HTMLFormElement, submitter?: HTMLElement | null): string {
  return urlencode(formEntries(form, submitter));
}

/**
 * The application/x-www-form-urlencoded serialization of an entry list: URLSearchParams implements
 * the standard's serializer (`+` for spaces); files go as their names and every newline (a lone CR
 * or LF, encoded %0D or %0A) as CRLF, as form submission sends them.
 */
export function urlencode(entries: Iterable<[string, FormDataEntryValue]>): string {
  const pairs = [...entries].map(([n, v]) => [n, typeof v === 'string' ? v : v.name]);
  return `${new URLSearchParams(pairs)}`.replace(/%0D%0A|%0D|%0A/g, '%0D%0A');
}

/**
 * The form's entries as a FormData (for multipart bodies). The same entry list as the browser's
 * `new FormData(form, submitter)`, also in browsers whose FormData takes no submitter.
 * @example await post('/upload', formData(form));
 */
export function formData(form: HTMLFormElement, submitter?: HTMLElement | null): FormData {
  const fd = new FormData();
  for (const [n, v] of formEntries(form, submitter)) fd.append(n, v);
  return fd;
}
