// Keeps the browser client's size budgets (scripts/size.mjs): request alone <= 3 KB, the whole
// client <= 8 KB, min+gzip.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

interface Measure {
  name: string;
  budget: number;
  min: number;
  gzip: number;
  lazy: number;
}

test('client bundle sizes stay within budget', () => {
  const out = execFileSync(process.execPath, ['scripts/size.mjs', '--json'], { encoding: 'utf8' });
  const measures = JSON.parse(out) as Measure[];
  const byName = Object.fromEntries(measures.map((m) => [m.name, m]));
  assert.equal(byName['request alone']?.budget, 3 * 1024);
  assert.equal(byName['whole client']?.budget, 8 * 1024);
  for (const m of measures) {
    assert.ok(m.gzip > 500, `${m.name} measured something (${m.gzip} B)`);
    assert.ok(m.gzip <= m.budget, `${m.name}: ${m.gzip} B min+gzip, budget ${m.budget} B`);
  }
  // The whole client holds at least everything request needs.
  assert.ok(byName['whole client']!.gzip > byName['request alone']!.gzip);
});
