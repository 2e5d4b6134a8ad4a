import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { HubOptions } from '../hub/options.js';

/** What `cometa serve` runs with: hub options plus where to listen. */
export interface ServeConfig extends HubOptions {
  port?: number;
  host?: string;
  /** pino level: trace, debug, info, warn, error, fatal, silent. */
  logLevel?: string;
}

/** Reads a JSON or YAML config file (by extension; `.yml`/`.yaml` are YAML). Errors name the file. */
export async function loadConfigFile(path: string): Promise<ServeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`--config ${path}: cannot read it (${(err as Error).message})`);
  }
  let value: unknown;
  try {
    value = ['.yml', '.yaml'].includes(extname(path)) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new Error(
      `--config ${path}: not valid ${extname(path) === '.json' ? 'JSON' : 'YAML/JSON'}: ${(err as Error).message}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`--config ${path}: the top level must be an object of options`);
  }
  return value as ServeConfig;
}
