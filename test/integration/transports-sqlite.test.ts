/** The shared transport suite with every hub on its own SQLite file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { transportSuite } from '../helpers/transport-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'cometa-suite-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
transportSuite({ name: 'sqlite', store: (driver) => `sqlite:${join(dir, `${driver}.db`)}` });
