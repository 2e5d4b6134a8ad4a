// readStream() of the universal build: on its get(), which uses fetch where there is no XHR.
import { get } from './api-any.js';
import { type ReadStream, readStreamVia } from './durable.js';

/** See durable.ts. */
export const readStream: ReadStream = /* @__PURE__ */ readStreamVia(get);
