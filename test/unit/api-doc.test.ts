// docs/api.md's reference half is generated from the hub's TSDoc (scripts/api-doc.mjs): a member,
// option or default changed in the code without `npm run docs:api` fails here.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';

const ROOT = new URL('../../', import.meta.url).pathname;

test('docs/api.md matches the TSDoc of the hub entry', async () => {
  const r = await promisify(execFile)(process.execPath, ['scripts/api-doc.mjs', '--check'], {
    cwd: ROOT,
  }).then(
    () => '',
    (err: { stderr?: string; message: string }) => err.stderr || err.message,
  );
  assert.equal(r, '', r);
});

test('docs/api.md covers createHub, every Hub method the README names, and every option group', () => {
  const doc = readFileSync(new URL('docs/api.md', `file://${ROOT}`), 'utf8');
  for (const name of [
    'listen()',
    'handler',
    'upgrade',
    'publish()',
    'info()',
    'drop()',
    'close()',
    'authorize()',
    'ready',
    'metrics',
    'server',
  ]) {
    assert.ok(doc.includes(`### \`hub.${name}\``), `no section for hub.${name}`);
  }
  assert.ok(doc.includes('## `createHub(options?)`'));
  for (const group of [
    'HubOptions',
    'LimitOptions',
    'CorsOptions',
    'WebSocketOptions',
    'ChannelRule',
    'AuthOptions',
    'Retention',
  ]) {
    assert.ok(doc.includes(`### \`${group}\``), `no table for ${group}`);
  }
});
