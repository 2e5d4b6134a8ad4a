// Every package the lockfile installs (dev dependencies included) accepts the running Node, as npm
// checks it: a package whose `engines.node` excludes this version makes `npm ci` warn EBADENGINE
// and may fail at run time. CI runs the suite on Node 20 and on Node 24, so both are checked.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import semver from 'semver';

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
  optional?: boolean;
  os?: string[];
  cpu?: string[];
}

test(`every locked package accepts Node ${process.version}`, () => {
  const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const bad: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || Array.isArray(entry.engines)) continue;
    // Platform packages for other systems are never installed here.
    if (entry.os && !entry.os.includes(process.platform)) continue;
    if (entry.cpu && !entry.cpu.includes(process.arch)) continue;
    const range = entry.engines?.node;
    if (range && !semver.satisfies(process.version, range, { includePrerelease: true })) {
      bad.push(`${path}@${entry.version}: engines.node "${range}"`);
    }
  }
  assert.deepEqual(bad, [], 'pin or override these so that npm ci does not warn EBADENGINE');
});
