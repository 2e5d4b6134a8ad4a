import { chargeOf, grows, recordOverhead, type StoreBounds, storeFull } from './bounds.js';
import type { StreamMeta, StreamRecord, StreamStorage, StreamWrite } from './storage.js';
import { expiryOf } from './storage.js';

/** Durable Streams kept in this process only (the hub's `memory` store): lost on restart. */
export class MemoryStreamStorage implements StreamStorage {
  readonly kind = 'memory' as const;
  readonly #metas = new Map<string, StreamMeta>();
  readonly #records = new Map<string, StreamRecord[]>();
  readonly #listeners: Array<(path: string) => void> = [];
  /** Bytes each stream is charged (bounds.ts), and their sum. */
  readonly #charges = new Map<string, number>();
  #bytes = 0;

  async open(): Promise<void> {}

  async close(): Promise<void> {}

  async load(path: string): Promise<StreamMeta | undefined> {
    const meta = this.#metas.get(path);
    // A copy: the engine changes what it loaded before committing it.
    return meta === undefined ? undefined : structuredClone(meta);
  }

  async commit(writes: StreamWrite[], bounds: StoreBounds): Promise<boolean> {
    for (const w of writes) {
      if ((this.#metas.get(w.path)?.version ?? 0) !== w.expect) return false;
    }
    const charges = writes.map((w) =>
      w.meta === null ? 0 : chargeOf(w.meta, JSON.stringify(w.meta), recordOverhead(this.kind, w.meta)),
    );
    let bytes = this.#bytes;
    let streams = this.#metas.size;
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      bytes += charges[i]! - (this.#charges.get(w.path) ?? 0);
      if (w.meta === null) streams--;
      else if (w.expect === 0) streams++;
    }
    if (grows(writes)) {
      if (streams > this.#metas.size && streams > bounds.maxStreams) throw storeFull('streams', bounds);
      if (bytes > this.#bytes && bytes > bounds.maxBytes) throw storeFull('bytes', bounds);
    }
    this.#bytes = bytes;
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      if (w.meta === null) this.#charges.delete(w.path);
      else this.#charges.set(w.path, charges[i]!);
    }
    for (const w of writes) {
      if (w.meta === null) {
        this.#metas.delete(w.path);
        this.#records.delete(w.path);
      } else {
        const fresh = w.expect === 0;
        this.#metas.set(w.path, structuredClone(w.meta));
        let list = fresh ? undefined : this.#records.get(w.path);
        if (list === undefined) {
          list = [];
          this.#records.set(w.path, list);
        }
        if (w.append !== undefined) for (const r of w.append) list.push(r);
      }
    }
    for (const w of writes) if (w.notify !== false) for (const l of this.#listeners) l(w.path);
    return true;
  }

  async records(meta: StreamMeta, from: number, limit: number, maxBytes: number): Promise<StreamRecord[]> {
    const list = this.#records.get(meta.path);
    if (list === undefined) return [];
    const out: StreamRecord[] = [];
    let bytes = 0;
    for (let i = from; i < list.length && out.length < limit; i++) {
      const r = list[i]!;
      if (out.length > 0 && bytes + r.data.length > maxBytes) break;
      bytes += r.data.length;
      out.push(r);
    }
    return out;
  }

  onChange(listener: (path: string) => void): void {
    this.#listeners.push(listener);
  }

  async expiring(now: number, limit: number): Promise<string[]> {
    const out: string[] = [];
    for (const meta of this.#metas.values()) {
      if (out.length >= limit) break;
      if (expiryOf(meta) <= now) out.push(meta.path);
    }
    return out;
  }
}
