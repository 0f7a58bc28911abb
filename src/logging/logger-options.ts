import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Params } from 'nestjs-pino';
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Settings } from '../config/gateway-config';

/** Credential headers are never serialised; this is the last line of defence if a header object is ever logged. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.authorization',
  '*["x-api-key"]',
];

/**
 * One pino instance: JSON to stdout (pretty and coloured on a TTY) and JSON lines to settings.log_file_path. Writes are
 * asynchronous; the file is open before this resolves, so an early exit can still flush.
 */
export async function createRootLogger(
  settings: Pick<Settings, 'logLevel' | 'logFilePath' | 'logColor'>,
): Promise<Logger> {
  const streams: { stream: DestinationStream }[] = [];
  const tty = process.stdout.isTTY && settings.logColor;
  streams.push({
    stream: tty
      ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true })
      : pino.destination({ dest: 1, sync: false }),
  });
  if (settings.logFilePath) {
    mkdirSync(dirname(settings.logFilePath), { recursive: true });
    const file = pino.destination({ dest: settings.logFilePath, sync: false, mkdir: true });
    await once(file, 'ready');
    streams.push({ stream: file });
  }
  return pino(
    { level: settings.logLevel, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'balancer' } },
    pino.multistream(streams.map((s) => ({ ...s, level: 'trace' as const }))),
  );
}

/**
 * nestjs-pino carries the application's own log lines (Nest's Logger). Its per-request middleware is not mounted:
 * the access line is written by registerAccessLog without a child logger per request.
 */
export function loggerParams(logger: Logger): Params {
  return { pinoHttp: { logger, autoLogging: false }, forRoutes: [] };
}
