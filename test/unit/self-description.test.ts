// The project speaks only of itself: code, comments, docs, bench reports and test names say what
// cometa does and why, and a figure names the command and the date or commit that produced it.
// How the work was organised (work sessions, issue numbers, reviews, who asked) lives in git
// history, not in the files. Every tracked text file is checked, across line breaks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;
const SELF = 'test/unit/self-description.test.ts';

const RULES: [RegExp, string][] = [
  [/\bsessions?[\s-]+\d/i, 'a work session by number'],
  [
    /\b(?:this|that|each|previous|earlier|later|next|other|second|first|third|helper)\s+sessions?\b/i,
    'a work session',
  ],
  [/\bsessions?['’]s?\s+(?:run|runs|test|tests|report)\b/i, 'a work session'],
  [/\bissues?\s+#?\d/i, 'an issue by number'],
  [/\b(?:the|a|this|during|from|in|after)\s+review\b|\breview(?:['’]s|\s+repro)\b/i, 'a review'],
  [/\bthe\s+lead\b/i, 'who asked'],
];

test('no file refers to how the project was developed', () => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && f !== SELF && f !== 'package-lock.json');
  const found: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      continue; // deleted in the working tree
    }
    if (text.includes('\0')) continue; // binary
    for (const [rule, what] of RULES) {
      const m = new RegExp(rule.source, 'gi');
      for (let hit = m.exec(text); hit !== null; hit = m.exec(text)) {
        const line = text.slice(0, hit.index).split('\n').length;
        found.push(`${file}:${line}: ${what}: "${hit[0].replace(/\s+/g, ' ')}"`);
      }
    }
  }
  assert.deepEqual(
    found,
    [],
    `say what the code does, and name a commit or date for a figure:\n${found.join('\n')}`,
  );
});
