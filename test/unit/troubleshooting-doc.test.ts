// docs/troubleshooting.md has a row, with cause and fix, for every error code the hub answers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES } from '../../src/protocol/errors.js';

test('docs/troubleshooting.md explains every hub error code', () => {
  const doc = readFileSync(new URL('../../docs/troubleshooting.md', import.meta.url), 'utf8');
  const rows = new Set(
    [...doc.matchAll(/^\| `(ERR_\w+)`\s+\| (\d{3})\s+\|/gm)].map((m) => `${m[1]} ${m[2]}`),
  );
  const missing = Object.entries(ERROR_CODES)
    .filter(([, e]) => e.side === 'hub')
    .map(([code, e]) => `${code} ${e.status}`)
    .filter((row) => !rows.has(row));
  assert.deepEqual(missing, [], 'add a row (code, status, usual cause, fix) to docs/troubleshooting.md');
});
