/**
 * Drives test/helpers/h11-judge.py: h11 (Debian's python3-h11), a strict HTTP/1.1 implementation
 * that is not ours, reads the hub's answers to raw requests. See test/integration/conformance.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const JUDGE = fileURLToPath(new URL('../helpers/h11-judge.py', import.meta.url));

export interface Case {
  id: string;
  raw: string;
  /** What h11 is told was sent: it frames a HEAD answer without a body. */
  method: string;
  upgrade?: boolean;
  mode?: 'full' | 'stream';
  readMs?: number;
  /** The final status expected. */
  status: number | number[];
  check?: (r: Judged) => void;
}

export interface Answer {
  status: number;
  version: string;
  reason: string;
  headers: Array<[string, string]>;
}

export interface Judged {
  id: string;
  answers: Answer[];
  body: string;
  error: string | null;
  extra: string;
  closed: boolean;
  switched: boolean;
}

export const header = (a: Answer, name: string): string[] =>
  a.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
export const one = (a: Answer, name: string): string | undefined => header(a, name)[0];

/** Runs the judge over `cases` against `port` (asynchronously: the hub runs in this process). */
export async function judge(port: number, cases: Case[]): Promise<Judged[]> {
  const input = JSON.stringify({
    port,
    trace: process.env.JUDGE_TRACE === '1',
    cases: cases.map(({ id, raw, method, upgrade, mode, readMs }) => ({
      id,
      raw,
      method,
      upgrade,
      mode,
      readMs,
    })),
  });
  const child = spawn(PYTHON, [JUDGE], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
    child.stdin.end(input);
  });
  assert.equal(code, 0, `the h11 judge failed: ${err}`);
  if (process.env.JUDGE_TRACE === '1') process.stderr.write(err);
  return JSON.parse(out) as Judged[];
}
