import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../common/gateway-error';
import { type RequestLog, requestIdOf, requestLogOf } from '../logging/request-log';
import { MetricsService } from '../metrics/metrics.service';
import type { GatewayRuntime } from '../config/gateway-runtime';
import { ProvidersService } from '../providers/providers.service';
import { type MessageRequest, sessionIdOf, validateMessageBody } from './message-request';
import { ClientGoneError } from './stream-gate';
import { type RelayOutcome, relayStream } from './stream-relay';
import type { TokenUsage } from './token-usage';
import { type AnsweringAttempt, type Delivery, type ExecutionTrail, UpstreamExecutor } from './upstream-executor';

const PASSED_THROUGH_HEADERS = /^(request-id|anthropic-ratelimit-.*|retry-after|retry-after-ms)$/;

/** Serves POST /v1/messages: validate, route, try providers, then send the answer as it comes. */
@Injectable()
export class MessagesService {
  private readonly logger = new Logger('Messages');

  constructor(
    private readonly providers: ProvidersService,
    private readonly executor: UpstreamExecutor,
    private readonly metrics: MetricsService,
  ) {}

  /** Builds the request the upstream attempts see; the abort signal fires when the client goes away. */
  prepare(request: FastifyRequest, reply: FastifyReply, runtime: GatewayRuntime): MessageRequest {
    const body = validateMessageBody(request.body, 'messages');
    const model = body.model as string;
    const client = request.gatewayClient;
    if (client && !runtime.clientMayUse(client, model)) {
      throw new GatewayError(403, 'permission_error', `Client '${client.name}' may not use model '${model}'.`);
    }
    const log = requestLogOf(request.raw);
    log.model = model;
    log.stream = body.stream === true;
    const aborter = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) aborter.abort();
    });
    const queryAt = request.url.indexOf('?');
    return {
      requestId: requestIdOf(request.raw),
      body,
      raw: request.rawBody ?? Buffer.from(JSON.stringify(body)),
      model,
      stream: body.stream === true,
      headers: request.headers,
      query: queryAt === -1 ? '' : request.url.slice(queryAt),
      client,
      clientKey: request.gatewayClientKey,
      sessionId: sessionIdOf(request.headers, body),
      signal: aborter.signal,
      receivedAt: Date.now(),
    };
  }

  async handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const runtime = this.providers.runtime;
    const message = this.prepare(request, reply, runtime);
    const log = requestLogOf(request.raw);
    const trail: ExecutionTrail = { attempts: 0, failures: [] };
    const clientName = message.client?.name ?? 'anonymous';
    this.metrics.inflight.inc();
    let finished = false;
    const finish = (provider: string, status: string, usage?: TokenUsage) => {
      if (finished) return;
      finished = true;
      this.metrics.inflight.dec();
      log.attempts = trail.attempts;
      if (trail.failures.length > 0) log.failed_providers = trail.failures.map((f) => f.provider);
      this.metrics.requests.labels(provider, message.model, status, clientName).inc();
      this.metrics.requestDuration.labels(provider, String(message.stream)).observe((Date.now() - message.receivedAt) / 1000);
      if (usage) {
        log.tokens = usage;
        this.metrics.countTokens(provider, message.model, clientName, usage);
      }
    };
    let delivery: Delivery;
    try {
      delivery = await this.executor.execute(message, runtime, trail);
    } catch (error) {
      if (error instanceof ClientGoneError) {
        finish(trail.failures.at(-1)?.provider ?? 'none', 'client_closed');
        return;
      }
      finish('none', error instanceof GatewayError ? String(error.status) : '500');
      throw error;
    }
    const { attempt } = delivery;
    log.provider = attempt.provider.name;
    void reply.headers(this.responseHeaders(attempt, message.requestId));
    switch (delivery.kind) {
      case 'upstream-error':
        finish(attempt.provider.name, String(delivery.status));
        await reply.code(delivery.status).type('application/json').send(delivery.body);
        return;
      case 'message':
        this.metrics.timeToFirstByte.labels(attempt.provider.name).observe((Date.now() - message.receivedAt) / 1000);
        finish(attempt.provider.name, String(attempt.status), delivery.usage);
        await reply.code(attempt.status).type('application/json').send(delivery.body);
        return;
      case 'stream': {
        const patterns = runtime.config.settings.unhealthyResponseBodyPatterns;
        const outcome: RelayOutcome = { clientGone: false };
        const chunks = relayStream(delivery, message.signal, attempt.provider.name, patterns, outcome);
        const body = Readable.from(this.observe(chunks, () => this.streamEnded(message, runtime, attempt, outcome, delivery.usage, log, finish)), {
          objectMode: false,
        });
        this.metrics.timeToFirstByte.labels(attempt.provider.name).observe((Date.now() - message.receivedAt) / 1000);
        await reply
          .code(attempt.status)
          .headers({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
          .send(body);
        return;
      }
    }
  }

  private async *observe<T>(source: AsyncGenerator<T>, onEnd: () => void): AsyncGenerator<T> {
    try {
      yield* source;
    } finally {
      onEnd();
    }
  }

  private streamEnded(
    message: MessageRequest,
    runtime: GatewayRuntime,
    attempt: AnsweringAttempt,
    outcome: RelayOutcome,
    usage: TokenUsage,
    log: RequestLog,
    finish: (provider: string, status: string, usage?: TokenUsage) => void,
  ): void {
    const provider = attempt.provider.name;
    if (outcome.failure) {
      const failure = { ...outcome.failure, message: runtime.scrubber.scrub(outcome.failure.message) };
      this.providers.recordFailure(provider, failure, runtime.config);
      log.error = `mid-stream failure: ${failure.message}`;
      this.logger.warn(`[${message.requestId}] ${provider} failed mid-stream for ${message.model}: ${failure.message}`);
      finish(provider, 'stream_error', usage);
      return;
    }
    finish(provider, outcome.clientGone ? 'client_closed' : String(attempt.status), usage);
  }

  private responseHeaders(attempt: AnsweringAttempt, requestId: string): Record<string, string> {
    const headers: Record<string, string> = { 'x-request-id': requestId, 'x-provider-used': attempt.provider.name };
    copyPassedThrough(attempt.headers, headers);
    return headers;
  }
}

function copyPassedThrough(from: IncomingHttpHeaders, to: Record<string, string>): void {
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && PASSED_THROUGH_HEADERS.test(name)) to[name] = Array.isArray(value) ? value.join(', ') : value;
  }
}
