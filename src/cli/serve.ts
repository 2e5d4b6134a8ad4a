import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createHub } from '../hub/hub.js';
import { loadConfigFile, type ServeConfig } from './config.js';
import { resolveServeConfig, SETTINGS, settingFlags } from './settings.js';

const ARG = { int: 'N', string: 'X', list: 'A,B', bool: '' } as const;

export const SERVE_USAGE = `cometa serve [--port 8080] [--host 127.0.0.1] [--config FILE] [--demo] [--no-feed] [OPTIONS]

  Precedence: flags > environment (COMETA_*) > config file (JSON or YAML) > defaults.
${'  --config FILE'.padEnd(34)}(COMETA_CONFIG) JSON or YAML file of hub options plus port, host, logLevel
${SETTINGS.map((s) => `${`  --${s.kind === 'bool' ? `[no-]${s.flag}` : `${s.flag} ${ARG[s.kind]}`}`.padEnd(34)}(${s.env}) ${s.doc}; default ${s.def}`).join('\n')}

  See docs/configuration.md for the full reference.`;

/** `cometa serve`: starts a hub and stops it gracefully on SIGINT/SIGTERM. */
export async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...settingFlags(),
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(SERVE_USAGE);
    return;
  }
  const configPath = values.config ?? process.env.COMETA_CONFIG;
  const config: ServeConfig = configPath ? await loadConfigFile(configPath) : {};
  const { port, host, logLevel, options } = resolveServeConfig(
    config,
    process.env,
    values as Record<string, string | boolean | undefined>,
  );
  const logger = pino({ name: 'cometa', level: logLevel });
  const hub = createHub({ ...options, logger });
  const address = await hub.listen(port, host);
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const o = hub.options;
  const extras = [
    o.demo ? `demo at ${url}/${o.demoFeed ? ' (SIMULATED feed on)' : ''}` : '',
    o.dashboard ? `dashboard at ${url}/dashboard` : '',
    o.metrics ? `metrics at ${url}/metrics` : '',
  ].filter((x) => x !== '');
  logger.info(
    { url, store: hub.store.kind, demo: o.demo, feed: o.demoFeed, dashboard: o.dashboard },
    `cometa listening on ${url}${extras.length > 0 ? `; ${extras.join(', ')}` : ''}`,
  );
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
