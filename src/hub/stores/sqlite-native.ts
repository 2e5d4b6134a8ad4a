import Database from 'better-sqlite3';

/**
 * What to type when better-sqlite3's native module cannot be loaded. npm 11 runs a dependency's
 * install script only once the app approves it, so a plain `npm install` of an app that uses
 * cometa leaves the module unbuilt; a Node upgrade leaves it built for the old ABI. Both end in
 * an error from deep inside `bindings` that says nothing about either fix.
 */
export const SQLITE_NATIVE_FIX =
  'in your app run `npm install-scripts approve better-sqlite3` (npm 11 and later) and then ' +
  '`npm rebuild better-sqlite3`; or start without SQLite: `cometa serve --store memory` ' +
  "(createHub({ store: 'memory' })) or a Redis store";

/** An error from loading the native module (missing, or built for another Node), not from SQLite. */
export function isNativeLoadError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (
    /Could not locate the bindings file|better_sqlite3\.node|NODE_MODULE_VERSION/.test(err.message) ||
    code === 'ERR_DLOPEN_FAILED'
  );
}

/** `new Database()`, turning a native-module load failure into an error that says what to type. */
export function openDatabase(path: string, options: Database.Options): Database.Database {
  try {
    return new Database(path, options);
  } catch (err) {
    if (!isNativeLoadError(err)) throw err;
    const why = /NODE_MODULE_VERSION/.test((err as Error).message)
      ? 'is built for another Node.js version'
      : 'is not built';
    throw new Error(
      `the SQLite store cannot start: better-sqlite3's native module ${why}. To fix it, ${SQLITE_NATIVE_FIX}`,
      {
        cause: err,
      },
    );
  }
}
