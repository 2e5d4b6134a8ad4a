#!/usr/bin/env node
console.error('cometa: the CLI is being built');
process.exitCode = 1;
