// Keeps the browser client's size budgets (scripts/size.mjs), measured with esbuild and with Vite
// production builds: request alone <= 3 KB + 108 B, the whole client <= 8 KB, min+gzip; a `get`-only Vite
// app is one chunk (no preload helper, no lazily loaded fetch transport); subscribeWith() with one
// transport leaves the others out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

interface Measure {
  name: string;
  tool: 'esbuild' | 'vite';
  budget: number;
  min: number;
  gzip: number;
  chunks: number;
}

test('client bundle sizes stay within budget, with esbuild and with Vite', () => {
  const out = execFileSync(process.execPath, ['scripts/size.mjs', '--json'], { encoding: 'utf8' });
  const measures = JSON.parse(out) as Measure[];
  const byName = Object.fromEntries(measures.map((m) => [m.name, m]));
  // 3 KB, plus what the Idempotency-Key that request() adds to a POST or PATCH that may be retried
  // costs (measured when it was added: 108 B min+gzip with esbuild, 95 B with Vite), so that a
  // retried publish is stored once without the caller choosing a key. Nothing else may grow them.
  assert.equal(byName['request alone']?.budget, 3 * 1024 + 108);
  assert.equal(byName['whole client']?.budget, 8 * 1024);
  assert.equal(byName['vite: get']?.budget, 3 * 1024 + 95);
  assert.equal(byName['vite: whole client']?.budget, 8 * 1024);
  for (const m of measures) {
    assert.ok(m.gzip > 500, `${m.name} measured something (${m.gzip} B)`);
    assert.ok(m.gzip <= m.budget, `${m.name}: ${m.gzip} B min+gzip, budget ${m.budget} B`);
    assert.equal(m.chunks, 1, `${m.name}: one chunk, nothing split off or injected`);
  }
  // The whole client holds at least everything request needs.
  assert.ok(byName['whole client']!.gzip > byName['request alone']!.gzip);
  // One transport named by its implementation: the other four (and the JSONP loader) stay out.
  assert.ok(
    byName['vite: subscribeWith sse']!.gzip < byName['vite: subscribe']!.gzip - 1024,
    `${byName['vite: subscribeWith sse']!.gzip} B vs ${byName['vite: subscribe']!.gzip} B`,
  );
});
