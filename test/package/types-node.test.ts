// The hub's published types compile in a server-only TypeScript project: `lib: ["ES2022"]`,
// `types: ["node"]`, no DOM and no `skipLibCheck`, strict. A browser type (XMLHttpRequest,
// HTMLFormElement, ...) reachable from `cometa` or `cometa/protocol` breaks every such app's build.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';

const ROOT = new URL('../../', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'cometa-types-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const APP = `import { createHub, type HubOptions, isHubError, MemoryStore } from 'cometa';
import { type Envelope, ERROR_CODES, parseCursor } from 'cometa/protocol';

const options: HubOptions = { store: 'memory', limits: { maxBodyBytes: 1 << 20 } };
const hub = createHub(options);
const id: string = await hub.publish('news.app', { n: 1 });
const e: Envelope | undefined = undefined;
void [id, e, isHubError, MemoryStore, ERROR_CODES, parseCursor];
await hub.close();
`;

test('the hub entry and cometa/protocol type-check with lib ES2022 and @types/node only', async () => {
  assert.ok(
    existsSync(join(ROOT, 'dist/hub/index.d.ts')),
    'dist/ is missing: run `node scripts/build.mjs` first',
  );
  mkdirSync(join(tmp, 'node_modules'));
  symlinkSync(ROOT, join(tmp, 'node_modules/cometa'));
  writeFileSync(
    join(tmp, 'package.json'),
    JSON.stringify({ name: 'server-app', type: 'module', private: true }),
  );
  writeFileSync(join(tmp, 'app.ts'), APP);
  writeFileSync(
    join(tmp, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022'],
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        noEmit: true,
      },
      files: ['app.ts'],
    }),
  );
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const out = await promisify(execFile)(process.execPath, [tsc, '-p', tmp], { cwd: tmp }).then(
    (r) => r.stdout + r.stderr,
    (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
  );
  assert.equal(out.trim(), '', `the types do not compile without DOM:\n${out}`);
});
