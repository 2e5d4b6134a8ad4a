// Request bodies: what to hand to xhr.send()/fetch(), and a Content-Type only where the platform
// would not set the right one itself (it does for strings, URLSearchParams, FormData and Blobs).
import { urlencode } from './form.js';

/** `Object.prototype.toString` tag: tells bodies apart across realms, unlike instanceof. */
export const tag = (v: unknown): string => Object.prototype.toString.call(v).slice(8, -1);

/** Prepares `body` for sending, adding `content-type` to `headers` when cometa encodes it itself. */
export function prepareBody(
  body: unknown,
  headers: Record<string, string>,
): XMLHttpRequestBodyInit | Document | null {
  const t = tag(body);
  let type: string | undefined;
  if (t === 'HTMLFormElement') {
    const form = body as HTMLFormElement;
    // The browser's own entry list (new FormData) also knows wrap="hard" and form-associated custom
    // elements. A form with a file input (or that asks for it) goes as multipart, as the browser sends it.
    const fd = new FormData(form);
    if (
      /multipart/i.test(form.enctype) ||
      [...form.elements].some((e) => (e as HTMLInputElement).type === 'file')
    ) {
      return fd;
    }
    type = 'application/x-www-form-urlencoded;charset=UTF-8';
    body = urlencode(fd as unknown as Iterable<[string, FormDataEntryValue]>);
  } else if (t === 'Object' || Array.isArray(body)) {
    type = 'application/json';
    body = JSON.stringify(body);
  }
  if (type && !headers['content-type']) headers['content-type'] = type;
  return (body ?? null) as XMLHttpRequestBodyInit | null;
}
