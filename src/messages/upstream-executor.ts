import type { IncomingHttpHeaders } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../common/gateway-error';
import type { ProviderConfig } from '../config/gateway-config';
import { MetricsService } from '../metrics/metrics.service';
import { AdapterRegistry } from '../providers/adapter-registry';
import type { GatewayRuntime } from '../config/gateway-runtime';
import type { PreparedCall } from '../providers/provider-adapter';
import { ProvidersService } from '../providers/providers.service';
import {
  type AttemptFailure,
  describeErrorBody,
  httpFailure,
  isAbortError,
  judgeStatus,
  matchesBodyPattern,
  networkFailure,
} from '../providers/upstream-failure';
import { credentialFor } from '../providers/upstream-headers';
import type { PlannedAttempt } from '../routing/candidate-selector';
import type { MessageRequest } from './message-request';
import { ClientGoneError, type OpenedStream, openStreamGate } from './stream-gate';
import { applyUsage, emptyUsage, type TokenUsage } from './token-usage';

export interface AnsweringAttempt {
  readonly provider: ProviderConfig;
  readonly route: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
}

export type Delivery =
  | ({ readonly kind: 'stream'; readonly attempt: AnsweringAttempt } & OpenedStream)
  | { readonly kind: 'message'; readonly attempt: AnsweringAttempt; readonly body: string; readonly usage: TokenUsage }
  /** An upstream error that is the client's fault (400, 413, 422), handed back as it is. */
  | {
      readonly kind: 'upstream-error';
      readonly attempt: AnsweringAttempt;
      readonly status: number;
      readonly body: string;
    };

export interface ExecutionTrail {
  attempts: number;
  readonly failures: { provider: string; failure: AttemptFailure }[];
}

type AttemptResult = Delivery | { readonly kind: 'failed'; readonly failure: AttemptFailure };

const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * Tries a request on its candidates in order, inside the one client request: connection errors, timeouts, failover
 * statuses, error bodies and error events all move on to the next candidate before any byte reaches the client.
 */
@Injectable()
export class UpstreamExecutor {
  private readonly logger = new Logger('Upstream');

  constructor(
    private readonly providers: ProvidersService,
    private readonly adapters: AdapterRegistry,
    private readonly metrics: MetricsService,
  ) {}

  async execute(request: MessageRequest, runtime: GatewayRuntime, trail: ExecutionTrail): Promise<Delivery> {
    const plan = this.providers.plan(request.model, request.sessionId);
    if (plan.route === null) {
      throw new GatewayError(
        404,
        'not_found_error',
        `model: no route for '${request.model}'. Routed models and patterns: ${runtime.routes.patterns.join(', ')}`,
      );
    }
    if (plan.attempts.length === 0) {
      const reasons = plan.verdicts.map((v) => `${v.provider}: ${v.reason}`);
      throw allFailed(request.model, reasons, runtime, this.earliestRecovery(plan.verdicts.map((v) => v.provider)));
    }
    let previous: string | undefined;
    for (const attempt of plan.attempts) {
      if (previous !== undefined) this.metrics.failovers.labels(previous, attempt.provider.name).inc();
      trail.attempts += 1;
      const result = await this.attempt(request, runtime, attempt);
      if (result.kind !== 'failed') {
        // A stream is a success only once it has ended well; the runner records that (or the failure) at its end.
        if (result.kind !== 'stream') {
          this.providers.recordSuccess(attempt.provider.name, attempt.route, request.sessionId, runtime.config);
        }
        return result;
      }
      const failure = { ...result.failure, message: runtime.scrubber.scrub(result.failure.message) };
      trail.failures.push({ provider: attempt.provider.name, failure });
      this.providers.recordFailure(attempt.provider.name, failure, runtime.config);
      this.logger.warn(
        `[${request.requestId}] ${attempt.provider.name} failed for ${request.model}: ${failure.message}`,
      );
      previous = attempt.provider.name;
    }
    const reasons = trail.failures.map(({ provider, failure }) => `${provider}: ${failure.message}`);
    if (trail.failures.every(({ failure }) => failure.outcome === 'no_credential')) {
      throw new GatewayError(
        401,
        'authentication_error',
        `No credential to send upstream for model '${request.model}': ${reasons.join('; ')}`,
      );
    }
    throw allFailed(request.model, reasons, runtime, this.earliestRecovery(plan.attempts.map((a) => a.provider.name)));
  }

  private async attempt(
    request: MessageRequest,
    runtime: GatewayRuntime,
    planned: PlannedAttempt,
  ): Promise<AttemptResult> {
    const { provider } = planned;
    const credential = credentialFor(provider, request.headers, request.clientKey);
    if (!credential) return failed(noCredential(provider));
    const call = prepareOrRefuse(() =>
      this.adapters
        .for(provider)
        .prepareMessages({ request, provider, upstreamModel: planned.upstreamModel, credential }),
    );
    const settings = runtime.config.settings;
    let response: Dispatcher.ResponseData;
    try {
      response = await this.providers.dispatchers.get(provider.name).request({
        origin: provider.origin,
        path: call.path,
        method: 'POST',
        headers: call.headers,
        body: call.body,
        signal: request.signal,
        headersTimeout: settings.timeouts.firstByteMs,
        bodyTimeout: settings.timeouts.idleMs,
      });
    } catch (error) {
      if (isAbortError(error) || request.signal.aborted) throw new ClientGoneError();
      return failed(networkFailure(error));
    }
    const attempt: AnsweringAttempt = {
      provider,
      route: planned.route,
      status: response.statusCode,
      headers: response.headers,
    };
    const patterns = settings.unhealthyResponseBodyPatterns;
    const verdict = judgeStatus(response.statusCode, settings);
    if (verdict !== 'success') {
      const text = await readLimited(response.body, ERROR_BODY_LIMIT, request.signal);
      const pattern = matchesBodyPattern(text, patterns);
      if (verdict === 'client_fault' && !pattern) {
        const translated = call.translateError(response.statusCode, text);
        return { kind: 'upstream-error', attempt, status: translated.status, body: translated.body };
      }
      const failure = httpFailure(response.statusCode, text, response.headers);
      return failed(
        pattern
          ? { ...failure, outcome: 'body_pattern', message: `${failure.message} (matched "${pattern.source}")` }
          : failure,
      );
    }
    return request.stream
      ? this.openStream(call, response, attempt, patterns)
      : this.readMessage(call, response, attempt, patterns, request.signal);
  }

  private async openStream(
    call: PreparedCall,
    response: Dispatcher.ResponseData,
    attempt: AnsweringAttempt,
    patterns: readonly RegExp[],
  ): Promise<AttemptResult> {
    const opened = await openStreamGate(call.translateStream(response.body), patterns);
    if (!opened.ok) {
      response.body.destroy();
      return failed(opened.failure);
    }
    return { kind: 'stream', attempt, ...opened };
  }

  private async readMessage(
    call: PreparedCall,
    response: Dispatcher.ResponseData,
    attempt: AnsweringAttempt,
    patterns: readonly RegExp[],
    signal: AbortSignal,
  ): Promise<AttemptResult> {
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      if (isAbortError(error) || signal.aborted) throw new ClientGoneError();
      return failed(networkFailure(error));
    }
    let parsed: { type?: unknown; error?: unknown } | null;
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      parsed = null;
    }
    if (parsed === null || typeof parsed !== 'object') {
      return failed({
        outcome: 'bad_response',
        message: `the upstream answered 200 with a body that is not JSON: ${text.slice(0, 120)}`,
        countsAgainstHealth: true,
        status: 502,
      });
    }
    if (parsed.type === 'error' || parsed.error !== undefined) {
      const { type, message } = describeErrorBody(text);
      const pattern = matchesBodyPattern(text, patterns);
      return failed({
        outcome: 'error_body',
        message: `200 with an error body ${[type, message].filter(Boolean).join(': ')}${pattern ? ` (matched "${pattern.source}")` : ''}`,
        countsAgainstHealth: true,
        status: 502,
      });
    }
    const translated = call.translateMessage(text, parsed);
    const usage = emptyUsage();
    applyUsage(usage, translated.usage as Parameters<typeof applyUsage>[1]);
    const body = translated.body;
    return { kind: 'message', attempt, body, usage };
  }

  private earliestRecovery(providers: readonly string[]): number | undefined {
    const untils = providers
      .map((name) => this.providers.health.snapshot(name).cooldownUntil)
      .filter((until): until is number => until !== null);
    return untils.length > 0 ? Math.min(...untils) : undefined;
  }
}

/**
 * The body is only checked at its top level on the way in; a conversion that needs the rest (OpenAI providers) finds
 * malformed or wrongly shaped content here, which is the client's fault, not the provider's.
 */
function prepareOrRefuse(prepare: () => PreparedCall): PreparedCall {
  try {
    return prepare();
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof TypeError) {
      throw GatewayError.invalidRequest(`The request body could not be read: ${error.message}`);
    }
    throw error;
  }
}

function failed(failure: AttemptFailure): AttemptResult {
  return { kind: 'failed', failure };
}

function noCredential(provider: ProviderConfig): AttemptFailure {
  const message =
    provider.authType === 'oauth'
      ? 'no Claude OAuth account is available for this provider'
      : 'passthrough needs the client to send its own credential besides the gateway key';
  return { outcome: 'no_credential', message, countsAgainstHealth: false, status: 401 };
}

function allFailed(
  model: string,
  reasons: string[],
  runtime: GatewayRuntime,
  recoveryAt: number | undefined,
): GatewayError {
  const headers: Record<string, string> = {};
  if (recoveryAt !== undefined)
    headers['retry-after'] = String(Math.max(1, Math.ceil((recoveryAt - Date.now()) / 1000)));
  const message = `All providers failed for model '${model}': ${reasons.join('; ')}`;
  return new GatewayError(503, 'overloaded_error', runtime.scrubber.scrub(message), headers);
}

async function readLimited(body: Dispatcher.ResponseData['body'], limit: number, signal: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      chunks.push(buffer);
      size += buffer.length;
      if (size >= limit) break;
    }
  } catch (error) {
    if (signal.aborted) throw new ClientGoneError();
    if (!isAbortError(error) && chunks.length === 0) return '';
  }
  body.destroy();
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}
