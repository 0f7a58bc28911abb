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
import { LifecycleState } from './health/lifecycle.state';
import { MetricsService } from './metrics/metrics.service';
import { registerAdmission } from './server/admission.hook';
import { clientErrorHandler, type ProtocolErrorReason } from './server/client-error.handler';
import { ConnectionGuard } from './server/connection-guard';
import { answerRouterError, MAX_PATH_SEGMENT } from './server/router-errors';
import { SERVER_LIMITS, type ServerLimits } from './server/server-limits';

/** The parser enforces settings.max_body_bytes itself (so a reload applies); this only caps what Fastify allows. */
const FASTIFY_BODY_CEILING = 1024 * 1024 * 1024;

export interface GatewayApp {
  readonly app: NestFastifyApplication;
  readonly logger: Logger;
}

/**
 * Builds the application (used by main.ts and by the end-to-end tests, so both run the same wiring). Tests may
 * shorten the server's limits to see them act in seconds.
 */
export async function createGatewayApp(
  source: ConfigSource,
  logger?: Logger,
  limits: ServerLimits = SERVER_LIMITS,
): Promise<GatewayApp> {
  const rootLogger = logger ?? (await createRootLogger(source.initial.settings));
  // The metrics exist only once the app does; protocol errors before that have nowhere to be counted.
  let countProtocolError: (reason: ProtocolErrorReason) => void = () => undefined;
  const adapter = new FastifyAdapter({
    genReqId: (req: IncomingMessage) => requestIdFor(req),
    bodyLimit: FASTIFY_BODY_CEILING,
    // The admission hook answers during a drain, in Anthropic's shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: limits.deadlineCheckMs,
    },
    clientErrorHandler: clientErrorHandler((reason) => countProtocolError(reason)),
    frameworkErrors: answerRouterError,
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(source, rootLogger), adapter, {
    logger: false,
    bodyParser: false,
    // With Nest's logger off until init ends, a wiring error must reach main.ts as a thrown error, not a silent exit.
    abortOnError: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  const active = app.get(ActiveConfig);
  registerJsonBodyParser(fastify, () => active.runtime.config.settings.maxBodyBytes, limits);
  registerRequestLifecycle(fastify, active, app.get(RequestFinisher));
  const guard = new ConnectionGuard(limits.maxConnectionsPerAddress);
  guard.attach(app.getHttpServer());
  registerAdmission(fastify, guard, app.get(LifecycleState));
  const metrics = app.get(MetricsService);
  countProtocolError = (reason) => metrics.protocolErrors.labels(reason).inc();
  await app.init();
  // Attached after init so Nest's module-by-module startup lines stay out of the log; the banner says it all.
  app.useLogger(app.get(PinoNestLogger));
  return { app, logger: rootLogger };
}
