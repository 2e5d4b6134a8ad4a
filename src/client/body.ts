// Request bodies: what to hand to xhr.send()/fetch(), and a Content-Type only where the platform
// would not set the right one itself (it does for strings, URLSearchParams, FormData and Blobs).

/** `Object.prototype.toString` tag: tells bodies apart across realms, unlike instanceof. */
export const tag = (v: unknown): string => Object.prototype.toString.call(v).slice(8, -1);

/** Prepares `body` for sending, adding `content-type` to `headers` when cometa encodes it as JSON. */
export function prepareBody(
  body: unknown,
  headers: Record<string, string>,
): XMLHttpRequestBodyInit | Document | null {
  const t = tag(body);
  if (t === 'HTMLFormElement') {
    const form = body as HTMLFormElement;
    // The browser's own entry list (new FormData) also knows wrap="hard" and form-associated custom
    // elements. With a file input (or enctype multipart) it goes as multipart, as the browser sends it;
    // otherwise urlencoded (the platform sets that Content-Type for URLSearchParams), every newline as
    // CRLF as form submission does.
    const fd = new FormData(form);
    return /multipart/i.test(form.enctype) ||
      [...form.elements].some((e) => (e as HTMLInputElement).type === 'file')
      ? fd
      : new URLSearchParams([...fd].map(([n, v]) => [n, (v as string).replace(/\r?\n|\r/g, '\r\n')]));
  }
  if (t === 'Object' || Array.isArray(body)) {
    if (!headers['content-type']) headers['content-type'] = 'application/json';
    return JSON.stringify(body);
  }
  return (body ?? null) as XMLHttpRequestBodyInit | null;
}
