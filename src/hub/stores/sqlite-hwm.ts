import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';

/**
 * The SQLite store's high-water mark: the newest seq it ever acknowledged, with its epoch, kept in
 * a small file beside the database (`PATH-hwm`), outside the database and its WAL. A database
 * that comes back with a lower head in the same epoch lost acknowledged messages (its WAL was
 * deleted or not copied, a backup was restored without it): the store then starts a new epoch
 * instead of handing out those ids again for other messages, and every cursor from before gets a
 * `gap`.
 *
 * The mark is written in place (one `pwrite` of a fixed-size record) after each group commit and
 * before any publish of it is acknowledged; with `sync=full` it is fsynced like the commit. Without
 * fsync it is as durable as the WAL under `synchronous=NORMAL`: it survives a crash or `kill -9`
 * of the process, not a power loss.
 */
export class HighWaterMark {
  readonly path: string;
  readonly #sync: boolean;
  #fd: number | undefined;
  readonly #record = Buffer.alloc(RECORD);

  constructor(dbPath: string, sync: boolean) {
    this.path = `${dbPath}-hwm`;
    this.#sync = sync;
  }

  /** The mark in the file: undefined when there is none or it cannot be read as one. */
  read(): { epoch: string; seq: number } | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'latin1');
    } catch {
      return undefined;
    }
    const m = /^cometa-hwm 1 ([a-z0-9]{1,16}) (\d{1,16})\n/.exec(text);
    if (m === null) return undefined;
    return { epoch: m[1]!, seq: Number(m[2]) };
  }

  /** Opens the file (created if missing) and writes the mark; fsynced, so it holds from here on. */
  open(epoch: string, seq: number): void {
    this.#fd = openSync(this.path, 'w');
    this.write(epoch, seq, true);
  }

  /** Records `seq` as acknowledged (in place; fsynced with `sync=full` or when `force`). */
  write(epoch: string, seq: number, force = false): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    const rec = this.#record;
    rec.fill(0x20);
    rec.write(`cometa-hwm 1 ${epoch} ${seq}\n`, 0, 'latin1');
    rec[RECORD - 1] = 0x0a;
    writeSync(fd, rec, 0, RECORD, 0);
    if (force || this.#sync) fdatasyncSync(fd);
  }

  close(epoch: string, seq: number): void {
    if (this.#fd === undefined) return;
    try {
      this.write(epoch, seq, true);
    } finally {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
  }
}

/** Bytes of the record: the longest epoch and seq fit, padded with spaces. */
const RECORD = 64;
