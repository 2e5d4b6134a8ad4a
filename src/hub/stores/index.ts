import { MemoryStore } from './memory.js';
import type { Store, StoreContext } from './store.js';

export { MemoryStore } from './memory.js';
export type * from './store.js';
export { StoreUnavailableError } from './store.js';

/**
 * Builds a store from its spec: `memory`, `sqlite:PATH` or `redis://HOST:PORT/DB`.
 * `dataDir` is where the default SQLite file lives.
 */
export function createStore(spec: string, ctx: StoreContext, _dataDir: string): Store {
  if (spec === 'memory') return new MemoryStore(ctx);
  throw new TypeError(
    `options.store: unknown store ${JSON.stringify(spec)} (expected memory, sqlite:PATH or redis://HOST:PORT/DB)`,
  );
}
