#!/usr/bin/env node
import { PUBLISH_USAGE, publish } from './publish.js';
import { SERVE_USAGE, serve } from './serve.js';
import { SUBSCRIBE_USAGE, subscribe } from './subscribe.js';

const USAGE = `cometa: Ajax and Comet push hub

Usage:
  ${SERVE_USAGE.split('\n')[0]}
  ${PUBLISH_USAGE.split('\n')[0]}
  ${SUBSCRIBE_USAGE.split('\n')[0]}

Run 'cometa COMMAND --help' for a command's options.`;

const commands: Record<string, (argv: string[]) => Promise<void>> = { serve, publish, subscribe };
const [name, ...argv] = process.argv.slice(2);
const command = name === undefined ? undefined : commands[name];
if (command === undefined) {
  console.log(USAGE);
  process.exitCode = name === undefined || name === '--help' || name === '-h' ? 0 : 2;
} else {
  command(argv).catch((err: unknown) => {
    console.error(`cometa ${name}: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
