import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Settings } from '../config/gateway-config';
import { requestIdOf, requestLogOf } from './request-log';

const QUIET_PATHS = /^\/(health|metrics)(\/|\?|$)/;

/** Credential headers are never serialised; this is the last line of defence if a header object is ever logged. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.authorization',
  '*["x-api-key"]',
];

/** One pino instance: JSON to stdout (pretty and coloured on a TTY) and JSON lines to settings.log_file_path. */
export function createRootLogger(settings: Pick<Settings, 'logLevel' | 'logFilePath' | 'logColor'>): Logger {
  const streams: { stream: DestinationStream }[] = [];
  const tty = process.stdout.isTTY && settings.logColor;
  streams.push({
    stream: tty
      ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true })
      : pino.destination({ dest: 1, sync: false }),
  });
  if (settings.logFilePath) {
    mkdirSync(dirname(settings.logFilePath), { recursive: true });
    streams.push({ stream: pino.destination({ dest: settings.logFilePath, sync: true, mkdir: true }) });
  }
  return pino(
    { level: settings.logLevel, redact: { paths: REDACT, censor: '[redacted]' }, base: { service: 'balancer' } },
    pino.multistream(streams.map((s) => ({ ...s, level: 'trace' as const }))),
  );
}

export function loggerParams(logger: Logger): Params {
  return {
    pinoHttp: {
      logger,
      genReqId: (req: IncomingMessage) => requestIdOf(req),
      quietReqLogger: true,
      autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.test(req.url ?? '') },
      serializers: {
        req: (req: { id?: string; method?: string; url?: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode?: number }) => ({ status: res.statusCode }),
      },
      customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
        error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
      customSuccessMessage: (req: IncomingMessage, res: ServerResponse, ms: number) =>
        `${req.method} ${req.url} ${res.statusCode} ${Math.round(ms)}ms`,
      customErrorMessage: (req: IncomingMessage, res: ServerResponse, error: Error) =>
        `${req.method} ${req.url} ${res.statusCode} ${error.message}`,
      customSuccessObject: (req: IncomingMessage, _res: ServerResponse, value: Record<string, unknown>) =>
        accessLine(req, value),
      customErrorObject: (req: IncomingMessage, _res: ServerResponse, _error: Error, value: Record<string, unknown>) =>
        accessLine(req, value),
    },
  };
}

function accessLine(req: IncomingMessage, value: Record<string, unknown>): Record<string, unknown> {
  const { counted: _counted, ...fields } = requestLogOf(req);
  return { ...value, ...fields };
}
