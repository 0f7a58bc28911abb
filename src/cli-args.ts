import { parseArgs } from 'node:util';

export interface CliArgs {
  readonly config?: string;
  readonly host?: string;
  readonly port?: number;
  readonly help: boolean;
  readonly version: boolean;
}

export const USAGE = `Usage: node dist/main.js [--config PATH] [--host HOST] [--port PORT]

  --config PATH   config file (default: $BALANCER_CONFIG, ./providers.yaml, ./config/providers.yaml)
  --host HOST     listen address (default: settings.host, $HOST, 127.0.0.1)
  --port PORT     listen port (default: settings.port, $PORT, 9090)
  --help          show this help
  --version       print the version`;

export function parseCliArgs(argv: string[]): CliArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      help: { type: 'boolean', short: 'h', default: false },
      version: { type: 'boolean', short: 'v', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error(`--port must be a port number, got "${values.port}"`);
  }
  return { config: values.config, host: values.host, port, help: values.help, version: values.version };
}
