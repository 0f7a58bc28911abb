import { parseArgs } from 'node:util';

export interface CliArgs {
  /** `check`: validate the config and print what would be served, then exit. */
  readonly command: 'serve' | 'check';
  readonly config?: string;
  readonly host?: string;
  readonly port?: number;
  readonly help: boolean;
  readonly version: boolean;
}

export const USAGE = `Usage: node dist/main.js [check] [--config PATH] [--host HOST] [--port PORT]

  check           validate the config, print the providers, routes and clients it would serve, and exit

  --config PATH   config file (default: $BALANCER_CONFIG, ./providers.yaml, ./config/providers.yaml)
  --host HOST     listen address (default: settings.host, $HOST, 127.0.0.1)
  --port PORT     listen port (default: settings.port, $PORT, 9090)
  --help          show this help
  --version       print the version`;

export function parseCliArgs(argv: string[]): CliArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'check')) {
    throw new Error(`Unknown command "${positionals.join(' ')}": the only command is check`);
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error(`--port must be a port number, got "${values.port}"`);
  }
  return {
    command: positionals[0] === 'check' ? 'check' : 'serve',
    config: values.config,
    host: values.host,
    port,
    help: values.help,
    version: values.version,
  };
}
