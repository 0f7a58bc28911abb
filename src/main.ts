#!/usr/bin/env node
import 'reflect-metadata';
import { createGatewayApp } from './bootstrap';
import { parseCliArgs, USAGE } from './cli-args';
import { ConfigError, loadConfigFile, locateConfigFile } from './config/config-loader';
import { ConfigSource } from './config/config-source';
import { builtInDefault, WRITE_A_CONFIG_HINT } from './config/built-in-default';
import { configReport } from './config/config-report';
import { overridesFrom, validateEnvironment } from './config/environment';
import { LifecycleState } from './health/lifecycle.state';
import { isLoopbackHost, startupBanner } from './logging/banner';
import { StateConnection } from './state/redis/state-connection';
import { ProvidersService } from './providers/providers.service';
import { TokenStoreError } from './oauth/token.store';
import { VERSION } from './version';

const LISTEN_BACKLOG = 4096;

async function main(): Promise<void> {
  const args = parseCliArgs(process.argv.slice(2));
  if (args.help) return void process.stdout.write(`${USAGE}\n`);
  if (args.version) return void process.stdout.write(`${VERSION}\n`);

  const env = validateEnvironment(process.env);
  const overrides = overridesFrom(env, args);
  const path = locateConfigFile(args.config, process.env);
  const initial = path ? loadConfigFile(path, process.env, overrides) : builtInDefault(process.env, overrides);
  if (args.command === 'check') return void process.stdout.write(configReport(initial));
  const source = new ConfigSource(path, initial, overrides);
  const { settings } = source.initial;

  const { app, logger } = await createGatewayApp(source);
  // Node's default of 511 drops connections when a team's Claude Codes open hundreds of streams at once; the kernel
  // caps it at net.core.somaxconn.
  await app.listen({ host: settings.host, port: settings.port, backlog: LISTEN_BACKLOG });
  const address = app.getHttpServer().address();
  const listening =
    typeof address === 'object' && address ? `http://${settings.host}:${address.port}` : String(address);
  const stateUp = app.get(StateConnection).backend?.isUp;
  process.stdout.write(startupBanner(source.initial, app.get(ProvidersService).health, listening, stateUp));
  logger.info({ address: listening, config: path ?? 'built-in default', version: VERSION }, 'gateway started');
  if (!path) logger.warn(WRITE_A_CONFIG_HINT);
  if (source.initial.clients.length === 0 && !isLoopbackHost(settings.host)) {
    logger.warn(
      `No clients are configured and the gateway listens on ${settings.host}: anyone who can reach it can spend your providers' credit. Add a clients list to ${path ?? 'a providers.yaml'}.`,
    );
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.get(LifecycleState).draining = true;
    const graceMs = app.get(ProvidersService).runtime.config.settings.shutdownGraceSeconds * 1000;
    logger.info(`${signal} received: finishing in-flight requests (up to ${graceMs / 1000}s)`);
    const server = app.getHttpServer();
    const force = setTimeout(() => {
      logger.warn('Shutdown grace elapsed: closing the remaining connections');
      server.closeAllConnections();
    }, graceMs);
    force.unref();
    // Keep-alive connections whose last response ends during the drain would otherwise hold close() open until
    // their keep-alive timeout; close each as soon as it goes idle.
    const idle = setInterval(() => server.closeIdleConnections(), 200);
    idle.unref();
    app
      .close()
      .then(() => {
        logger.info('Stopped');
        logger.flush(() => process.exit(0));
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'Error during shutdown');
        process.exit(1);
      });
  };
  // A last resort: a bug that leaves a promise rejected must be seen in the log, not take every stream down with it.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'Unhandled promise rejection'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  const message =
    error instanceof ConfigError || error instanceof TypeError || error instanceof TokenStoreError
      ? error.message
      : String((error as Error)?.stack ?? error);
  process.stderr.write(`claude-balancer: ${message}\n`);
  process.exit(1);
});
