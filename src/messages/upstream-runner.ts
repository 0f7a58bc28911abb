import type { IncomingHttpHeaders } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import { errorBody, GatewayError } from '../common/gateway-error';
import type { GatewayRuntime } from '../config/gateway-runtime';
import type { SharedCall } from '../dedup/shared-call';
import type { RequestLog } from '../logging/request-log';
import { MetricsService } from '../metrics/metrics.service';
import { ProvidersService } from '../providers/providers.service';
import type { MessageRequest } from './message-request';
import { ClientGoneError } from './stream-gate';
import { type RelayOutcome, relayStream } from './stream-relay';
import type { TokenUsage } from './token-usage';
import { type AnsweringAttempt, type ExecutionTrail, UpstreamExecutor } from './upstream-executor';

const PASSED_THROUGH_HEADERS = /^(request-id|anthropic-ratelimit-.*|retry-after|retry-after-ms)$/;

/**
 * Makes the one upstream call for a request and publishes its answer into a SharedCall, which every client attached to
 * it reads from. The call is cancelled through the SharedCall's signal, not by any one client.
 */
@Injectable()
export class UpstreamRunner {
  private readonly logger = new Logger('Messages');

  constructor(
    private readonly executor: UpstreamExecutor,
    private readonly providers: ProvidersService,
    private readonly metrics: MetricsService,
  ) {}

  /** Never throws and always ends the call, so no client attached to it can wait forever. */
  async run(
    call: SharedCall,
    requestId: string,
    build: () => MessageRequest,
    runtime: GatewayRuntime,
    log: RequestLog,
  ): Promise<void> {
    const trail: ExecutionTrail = { attempts: 0, failures: [] };
    try {
      const message = build();
      const clientName = message.client?.name ?? 'anonymous';
      const delivery = await this.executor.execute(message, runtime, trail);
      const provider = delivery.attempt.provider.name;
      log.provider = provider;
      const headers = responseHeaders(delivery.attempt);
      switch (delivery.kind) {
        case 'upstream-error':
          call.setHead({ kind: 'error', status: delivery.status, headers, body: delivery.body });
          return;
        case 'message':
          call.setHead({ kind: 'message', status: delivery.attempt.status, headers, body: delivery.body });
          this.account(provider, message.model, clientName, delivery.usage, log);
          return;
        case 'stream': {
          call.setHead({ kind: 'stream', status: delivery.attempt.status, headers });
          const outcome: RelayOutcome = { cancelled: false };
          const patterns = runtime.config.settings.unhealthyResponseBodyPatterns;
          const scrub = (text: string) => runtime.scrubber.scrub(text);
          for await (const chunk of relayStream(delivery, call.signal, provider, patterns, outcome, scrub))
            call.push(chunk);
          if (outcome.failure) {
            const failure = { ...outcome.failure, message: scrub(outcome.failure.message) };
            call.markFailed();
            this.providers.recordFailure(provider, failure, runtime.config);
            log.error = `mid-stream failure: ${failure.message}`;
            this.logger.warn(
              `[${message.requestId}] ${provider} failed mid-stream for ${message.model}: ${failure.message}`,
            );
          }
          if (outcome.cancelled) call.markFailed();
          else if (!outcome.failure) {
            this.providers.recordSuccess(provider, delivery.attempt.route, message.sessionId, runtime.config);
          }
          this.account(provider, message.model, clientName, delivery.usage, log);
          return;
        }
      }
    } catch (error) {
      call.setHead(errorHead(error, requestId, this.logger));
    } finally {
      log.attempts = trail.attempts;
      if (trail.failures.length > 0) log.failed_providers = trail.failures.map((f) => f.provider);
      call.finish();
    }
  }

  private account(provider: string, model: string, client: string, usage: TokenUsage, log: RequestLog): void {
    log.tokens = usage;
    this.metrics.countTokens(provider, model, client, usage);
  }
}

function errorHead(error: unknown, requestId: string, logger: Logger) {
  if (error instanceof GatewayError) {
    return {
      kind: 'error' as const,
      status: error.status,
      headers: { ...error.headers },
      body: JSON.stringify(error.body(requestId)),
    };
  }
  if (error instanceof ClientGoneError) {
    return {
      kind: 'error' as const,
      status: 499,
      headers: {},
      body: JSON.stringify(errorBody('api_error', error.message, requestId)),
    };
  }
  logger.error(`[${requestId}] Unhandled error: ${(error as Error)?.stack ?? String(error)}`);
  const body = errorBody('api_error', `Internal server error (request ${requestId})`, requestId);
  return { kind: 'error' as const, status: 500, headers: {}, body: JSON.stringify(body) };
}

function responseHeaders(attempt: AnsweringAttempt): Record<string, string> {
  const headers: Record<string, string> = { 'x-provider-used': attempt.provider.name };
  copyPassedThrough(attempt.headers, headers);
  return headers;
}

function copyPassedThrough(from: IncomingHttpHeaders, to: Record<string, string>): void {
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && PASSED_THROUGH_HEADERS.test(name))
      to[name] = Array.isArray(value) ? value.join(', ') : value;
  }
}
