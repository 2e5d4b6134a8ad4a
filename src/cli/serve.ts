import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createHub } from '../hub/hub.js';
import { loadConfigFile, type ServeConfig } from './config.js';

export const SERVE_USAGE = `cometa serve [--port 8080] [--host 127.0.0.1] [--config FILE] [--store SPEC] [--data-dir DIR] [--demo]

  --port       port to listen on (default 8080)
  --host       address to listen on (default 127.0.0.1)
  --config     JSON or YAML file of hub options (flags win over it)
  --store      memory | sqlite:PATH | redis://HOST:PORT/DB
  --data-dir   directory of the default SQLite store (default ./.cometa)
  --demo       serve the demo pages at / and /dashboard`;

/** `cometa serve`: starts a hub and stops it gracefully on SIGINT/SIGTERM. */
export async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      config: { type: 'string' },
      store: { type: 'string' },
      'data-dir': { type: 'string' },
      demo: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(SERVE_USAGE);
    return;
  }
  const config: ServeConfig = values.config ? await loadConfigFile(values.config) : {};
  const { port: cfgPort, host: cfgHost, ...hubOptions } = config;
  const port = values.port !== undefined ? Number(values.port) : (cfgPort ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error('--port must be an integer from 0 to 65535');
  const host = values.host ?? cfgHost ?? '127.0.0.1';
  if (values.store !== undefined) hubOptions.store = values.store;
  if (values['data-dir'] !== undefined) hubOptions.dataDir = values['data-dir'];
  if (values.demo) hubOptions.demo = true;
  const logger = pino({ name: 'cometa' });
  const hub = createHub({ ...hubOptions, logger });
  const address = await hub.listen(port, host);
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  logger.info({ url, store: hub.store.kind, demo: hub.options.demo }, `cometa listening on ${url}`);
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    hub.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
