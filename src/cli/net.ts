/**
 * Turns Node fetch's bare "fetch failed" into a sentence naming the address and the cause
 * (ECONNREFUSED: nothing listens there; ENOTFOUND: no such host; a timeout: something drops it).
 */
export function reachError(url: URL, err: unknown): Error {
  if (!(err instanceof TypeError) || err.message !== 'fetch failed') return err as Error;
  let cause = (err as { cause?: unknown }).cause as
    | { code?: string; message?: string; errors?: unknown[] }
    | undefined;
  // localhost may resolve to several addresses: an AggregateError holds one error per address.
  if (cause && Array.isArray(cause.errors) && cause.errors.length > 0)
    cause = cause.errors[0] as typeof cause;
  const why = cause?.message ?? cause?.code ?? 'unknown cause';
  const hint = cause?.code === 'ECONNREFUSED' ? ': is the hub running there?' : '';
  return new Error(`cannot reach ${url.origin} (${why})${hint}`, { cause: err });
}

/** The hub's error code and message from a `{"error":{"code","message"}}` body, if it is one. */
export function hubError(body: string): { code: string; message: string } | undefined {
  try {
    const e = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof e?.code === 'string') return { code: e.code, message: String(e.message ?? '') };
  } catch {
    // not JSON
  }
  return undefined;
}
