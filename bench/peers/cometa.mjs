// cometa peer: `node dist/cli/main.js serve --port P --host 127.0.0.1 [--store memory]`, run in a
// temp working directory (so a default file store lands there).
//
// Which build: the repo's dist/ is deleted and rebuilt by every `npm test` on this shared machine,
// so the harness compiles its own snapshot of src/ once per run (tsc with tsconfig.build.json)
// into $TMPDIR/cometa-bench-hub-snapshot/dist (outside the repo: tsconfig includes bench/) with a
// node_modules symlink to the repo's, and runs that. COMETA_BENCH_SRC=head snapshots the last
// commit (git archive HEAD) instead of the working tree; COMETA_BENCH_DIST=/path/to/dist runs an
// existing build. COMETA_BENCH_NODE_FLAGS adds Node flags (profiling). Type errors of a work-in-progress tree do not stop the emit; a hub that then
// fails to start is reported as skipped.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNodeServer } from './node-peer.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
let built = null;

/** Compiles the hub once per harness run; returns { dist, commit, source }. */
export function hubBuild() {
  if (built) return built;
  if (process.env.COMETA_BENCH_DIST) {
    built = { dist: process.env.COMETA_BENCH_DIST, commit: '?', source: process.env.COMETA_BENCH_DIST };
    return built;
  }
  const git = (...a) =>
    execFileSync('git', ['-C', root, ...a])
      .toString()
      .trim();
  const commit = git('rev-parse', 'HEAD');
  const head = process.env.COMETA_BENCH_SRC === 'head';
  const dirty = !head && git('status', '--porcelain', '--', 'src') !== '';
  const dir = join(tmpdir(), 'cometa-bench-hub-snapshot');
  const dist = join(dir, 'dist');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (head) {
    const tar = execFileSync('git', [
      '-C',
      root,
      'archive',
      'HEAD',
      'src',
      'tsconfig.json',
      'tsconfig.build.json',
    ]);
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
  } else {
    cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true });
    for (const f of ['tsconfig.json', 'tsconfig.build.json']) cpSync(join(root, f), join(dir, f));
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module","private":true}\n');
  let typeErrors = 0;
  try {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.build.json')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (e) {
    typeErrors = (String(e.stdout ?? '').match(/error TS/g) ?? []).length;
  }
  built = {
    dist,
    commit,
    source: head
      ? `commit ${commit.slice(0, 12)}`
      : `working tree at ${commit.slice(0, 12)}${dirty ? ' + uncommitted src changes' : ''}`,
    typeErrors,
  };
  return built;
}

/**
 * The hub's abuse limits (256 connections per IP, 10,000 in all, 100 publishes/s per IP) would cap
 * a load test from a few loopback addresses; nchan, Socket.IO and Faye have none by default, so
 * they are lifted here. Everything else stays at its default.
 */
export const LIMITS = [
  '--max-connections',
  '0',
  '--max-connections-per-ip',
  '0',
  '--publish-rate-per-ip',
  '0',
];

export async function start(storeArgs = []) {
  let b;
  try {
    b = hubBuild();
  } catch (e) {
    throw new Error(
      `cometa build failed: ${String(e.stderr ?? e.message)
        .split('\n')
        .slice(0, 3)
        .join(' ')}`,
    );
  }
  const cli = join(b.dist, 'cli/main.js');
  if (!existsSync(cli)) throw new Error(`${cli} missing`);
  const cwd = mkdtempSync(join(tmpdir(), 'cometa-bench-hub-'));
  const p = await startNodeServer(cli, [], {
    cwd,
    // For profiling runs, e.g. COMETA_BENCH_NODE_FLAGS='--perf-basic-prof' or '--cpu-prof'.
    nodeArgs: (process.env.COMETA_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
    argsFor: (port) => ['serve', '--port', String(port), '--host', '127.0.0.1', ...LIMITS, ...storeArgs],
  });
  return {
    ...p,
    version: `cometa (${b.source})`,
    async stop() {
      await p.stop();
      rmSync(cwd, { recursive: true, force: true });
    },
  };
}
