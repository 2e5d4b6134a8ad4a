// `node --import tsx --import ./test/helpers/cometa-alias.mjs app.mjs`: resolves the package's own
// name `cometa` (and `cometa/client`) to the TypeScript sources, so the examples run unchanged
// against the working tree without a build.
import { register } from 'node:module';

const src = new URL('../../src/', import.meta.url).href;
const hooks = `
const map = { cometa: ${JSON.stringify(`${src}hub/index.ts`)}, 'cometa/client': ${JSON.stringify(`${src}client/index.ts`)} };
export async function resolve(specifier, context, next) {
  return next(map[specifier] ?? specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
