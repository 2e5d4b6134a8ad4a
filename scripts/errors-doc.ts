// Regenerates docs/errors.md from the registry in src/protocol/errors.ts (`npm run docs:errors`).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/protocol/errors.js';

const rows = Object.entries(ERROR_CODES);
let out = `# Error codes

Every error cometa reports carries one of these stable codes. The hub answers
\`{"error":{"code","message"}}\` with the status shown; the client throws \`CometaError\` with \`code\`
(and \`isX()\` guards). This file is generated from \`src/protocol/errors.ts\` by
\`npm run docs:errors\`; a test keeps them in step.

## Hub (HTTP answers)

| code | status | meaning |
| --- | --- | --- |
`;
for (const [code, e] of rows) if (e.side === 'hub') out += `| \`${code}\` | ${e.status} | ${e.text} |\n`;
out += '\n## Client (thrown by cometa/client)\n\n| code | meaning |\n| --- | --- |\n';
for (const [code, e] of rows) if (e.side === 'client') out += `| \`${code}\` | ${e.text} |\n`;
const file = new URL('../docs/errors.md', import.meta.url);
writeFileSync(file, out);
// The one formatter formats Markdown too; leave the file as `biome check` wants it.
execFileSync('npx', ['biome', 'format', '--write', file.pathname], { stdio: 'ignore' });
