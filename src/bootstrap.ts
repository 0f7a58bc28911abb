import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger as PinoNestLogger } from 'nestjs-pino';
import type { Logger } from 'pino';
import { AppModule } from './app.module';
import { ActiveConfig } from './config/active-config';
import type { ConfigSource } from './config/config-source';
import { createRootLogger } from './logging/logger-options';
import { registerJsonBodyParser } from './messages/json-body.parser';
import { registerRequestLifecycle, requestIdFor } from './request/request-lifecycle';
import { RequestFinisher } from './request/request-finisher';

/** The parser enforces settings.max_body_bytes itself (so a reload applies); this only caps what Fastify allows. */
const FASTIFY_BODY_CEILING = 1024 * 1024 * 1024;

export interface GatewayApp {
  readonly app: NestFastifyApplication;
  readonly logger: Logger;
}

/** Builds the application (used by main.ts and by the end-to-end tests, so both run the same wiring). */
export async function createGatewayApp(source: ConfigSource, logger?: Logger): Promise<GatewayApp> {
  const rootLogger = logger ?? (await createRootLogger(source.initial.settings));
  const adapter = new FastifyAdapter({
    genReqId: (req: IncomingMessage) => requestIdFor(req),
    bodyLimit: FASTIFY_BODY_CEILING,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    keepAliveTimeout: 65_000,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(source, rootLogger), adapter, {
    logger: false,
    bodyParser: false,
    // With Nest's logger off until init ends, a wiring error must reach main.ts as a thrown error, not a silent exit.
    abortOnError: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  const active = app.get(ActiveConfig);
  registerJsonBodyParser(fastify, () => active.runtime.config.settings.maxBodyBytes);
  registerRequestLifecycle(fastify, active, app.get(RequestFinisher));
  await app.init();
  // Attached after init so Nest's module-by-module startup lines stay out of the log; the banner says it all.
  app.useLogger(app.get(PinoNestLogger));
  return { app, logger: rootLogger };
}
