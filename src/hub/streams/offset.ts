/**
 * Durable Streams offsets and live cursors (PROTOCOL.md sections 8 and 10.1).
 *
 * An offset is `SSSSSSSSSSSSSSSS_BBBBBBBBBBBBBBBB`: the number of records before the position and
 * the number of payload bytes before it, each as 16 decimal digits, so that byte-wise comparison is
 * numeric comparison. The start of every stream is all zeros. The record count is what a JSON-mode
 * stream's messages are numbered by on the cometa side (bridge.ts): message `n` ends at offset
 * `n_…`.
 */

export const ZERO_OFFSET = '0000000000000000_0000000000000000';
const OFFSET_RE = /^\d{16}_\d{16}$/;

export function isOffset(s: string): boolean {
  return OFFSET_RE.test(s);
}

export function makeOffset(seq: number, bytes: number): string {
  return `${String(seq).padStart(16, '0')}_${String(bytes).padStart(16, '0')}`;
}

/** The record count of an offset. */
export function seqOf(offset: string): number {
  return Number(offset.slice(0, 16));
}

/** The byte count of an offset. */
export function bytesOf(offset: string): number {
  return Number(offset.slice(17));
}

/** Offset after one more record of `size` bytes. */
export function advance(offset: string, size: number): string {
  return makeOffset(seqOf(offset) + 1, bytesOf(offset) + size);
}

/** Cursor interval and epoch of PROTOCOL.md 10.1 (20 s from 2024-10-09T00:00:00Z). */
const CURSOR_INTERVAL_MS = 20_000;
const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);

/**
 * The `Stream-Cursor` of a live answer: the current interval number, or, when the client echoed a
 * cursor at or past it, that cursor plus 1 to 180 intervals (1-3600 s of jitter), so a CDN never
 * serves the same cached empty answer in a loop.
 */
export function responseCursor(client: string | null): string {
  const now = Math.floor((Date.now() - CURSOR_EPOCH_MS) / CURSOR_INTERVAL_MS);
  if (client === null || !/^\d{1,15}$/.test(client)) return String(now);
  const echoed = Number(client);
  if (echoed < now) return String(now);
  const jitterSeconds = 1 + Math.floor(Math.random() * 3600);
  return String(echoed + Math.max(1, Math.ceil(jitterSeconds / (CURSOR_INTERVAL_MS / 1000))));
}
