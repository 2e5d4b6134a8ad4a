/** Keeps the error-code registry, its types and docs/errors.md in step. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { describe, it } from 'node:test';
import { ERROR_CODES, type ErrorCode } from '../../src/protocol/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const documented = new Map<string, { status: string | undefined; text: string }>();
// Table rows, whatever padding the formatter gives the columns: | `CODE` | [status |] meaning |
for (const line of doc.split('\n')) {
  const cells = line
    .split('|')
    .slice(1, -1)
    .map((c) => c.trim());
  const code = /^`(ERR_[A-Z_]+)`$/.exec(cells[0] ?? '')?.[1];
  if (code === undefined) continue;
  documented.set(
    code,
    cells.length === 3 ? { status: cells[1], text: cells[2]! } : { status: undefined, text: cells[1]! },
  );
}

describe('error code registry', () => {
  it('documents every code, with its status and meaning, and nothing else', () => {
    assert.deepEqual(
      [...documented.keys()].sort(),
      Object.keys(ERROR_CODES).sort(),
      'run npm run docs:errors',
    );
    for (const [code, e] of Object.entries(ERROR_CODES)) {
      const d = documented.get(code)!;
      assert.equal(d.text, e.text, code);
      if (e.side === 'hub') assert.equal(Number(d.status), e.status, code);
    }
  });

  it('gives hub codes real 4xx/5xx statuses and client codes none', () => {
    for (const [code, e] of Object.entries(ERROR_CODES)) {
      if (e.side === 'hub') {
        assert.ok(e.status >= 400 && e.status < 600 && STATUS_CODES[e.status], code);
      } else assert.equal(e.status, 0, code);
      assert.match(code, /^ERR_[A-Z_]+$/);
    }
  });

  it('types every code', () => {
    // A compile-time check: this assignment fails type-checking if the type and registry diverge.
    const codes: ErrorCode[] = Object.keys(ERROR_CODES) as Array<keyof typeof ERROR_CODES>;
    assert.ok(codes.length > 20);
  });

  it('is used by the hub source only through the registry', () => {
    // Every ERR_ code mentioned in src/ must exist in the registry.
    const used = execFileSync('grep', ['-rhoE', "'ERR_[A-Z_]+'", 'src'], { encoding: 'utf8' });
    // Node's own error codes the hub compares against (not cometa's).
    const NODE_CODES = new Set([
      'ERR_HTTP_REQUEST_TIMEOUT',
      'ERR_HTTP_HEADERS_SENT',
      'ERR_STREAM_DESTROYED',
      'ERR_DLOPEN_FAILED',
    ]);
    for (const code of new Set(used.match(/ERR_[A-Z_]+/g) ?? [])) {
      if (NODE_CODES.has(code)) continue;
      assert.ok(code in ERROR_CODES, `${code} is used in src/ but not in the registry`);
    }
  });
});
