/**
 * Cursors and message ids share one form: `EPOCH-SEQ`.
 *
 * - `SEQ` is the store's global sequence number, increasing by one per published message across
 *   all channels, so one number is a position in every channel at once: a multi-channel
 *   subscription resumes from a single cursor.
 * - `EPOCH` names one life of the store's history. A store that loses its history (a memory store
 *   restarted, a Redis without persistence restarted) starts a new epoch, and a cursor from an old
 *   epoch is answered with a `gap` instead of silence.
 *
 * A message's id is the cursor "just after" that message. Clients treat cursors as opaque strings.
 */
export interface Cursor {
  epoch: string;
  seq: number;
}

const CURSOR_RE = /^([a-z0-9]{1,16})-(\d{1,15})$/;

/** Parses `EPOCH-SEQ`; returns undefined for anything else. */
export function parseCursor(raw: string): Cursor | undefined {
  const m = CURSOR_RE.exec(raw);
  if (!m) return undefined;
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(seq)) return undefined;
  return { epoch: m[1]!, seq };
}

/** Formats a cursor (also a message id). */
export function formatCursor(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

/** A fresh random epoch: 8 base36 characters. */
export function newEpoch(): string {
  let s = '';
  while (s.length < 8) s += Math.floor(Math.random() * 36).toString(36);
  return s;
}

/** True when `epoch` has the form an epoch must have. */
export function isEpoch(epoch: string): boolean {
  return /^[a-z0-9]{1,16}$/.test(epoch);
}
