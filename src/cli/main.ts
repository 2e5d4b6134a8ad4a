#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { PUBLISH_USAGE, publish } from './publish.js';
import { SERVE_USAGE, serve } from './serve.js';
import { SUBSCRIBE_USAGE, subscribe } from './subscribe.js';

const USAGE = `cometa: Ajax and Comet push hub

Usage:
  ${SERVE_USAGE.split('\n')[0]}
  ${PUBLISH_USAGE.split('\n')[0]}
  ${SUBSCRIBE_USAGE.split('\n')[0]}
  cometa --version

Run 'cometa COMMAND --help' for a command's options.`;

const commands: Record<string, (argv: string[]) => Promise<void>> = { serve, publish, subscribe };
const [name, ...argv] = process.argv.slice(2);
const command = name === undefined ? undefined : commands[name];
if (name === '--version' || name === '-v' || name === 'version') {
  // package.json sits two levels up from both src/cli/main.ts and dist/cli/main.js.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  console.log(pkg.version);
} else if (command === undefined) {
  const help = name === undefined || name === '--help' || name === '-h';
  if (!help) console.error(`cometa: unknown command '${name}'\n`);
  (help ? console.log : console.error)(USAGE);
  process.exitCode = help ? 0 : 2;
} else {
  command(argv).catch((err: unknown) => {
    console.error(`cometa ${name}: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
