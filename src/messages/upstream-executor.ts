import type { IncomingHttpHeaders } from 'node:http';
import { Injectable } from '@nestjs/common';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../common/gateway-error';
import type { ProviderConfig } from '../config/gateway-config';
import type { GatewayRuntime } from '../config/gateway-runtime';
import { AdapterRegistry } from '../providers/adapter-registry';
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
import { type Credential, credentialFor } from '../providers/upstream-headers';
import { type AccountAnswer, classifyAccountAnswer } from '../oauth/account-answer';
import { type AccountLease, AccountService } from '../oauth/account.service';
import { isClaudeCodeRequest } from '../oauth/claude-code-identity';
import type { PlannedAttempt } from '../routing/candidate-selector';
import { HealthStore } from '../state/health.store';
import { AttemptPlan } from './attempt-plan';
import { AttemptRecorder } from './attempt-recorder';
import { ConversionInputError } from '../conversion/conversion-input.error';
import { parseBoundedJson } from './json-scan';
import type { MessageRequest } from './message-request';
import { ClientGoneError, type OpenedStream, openStreamGate } from './stream-gate';
import { applyUsage, emptyUsage, type TokenUsage } from './token-usage';

export interface AnsweringAttempt {
  readonly planned: PlannedAttempt;
  readonly provider: ProviderConfig;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The subscription account that answered, for oauth providers. */
  readonly account?: string;
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

type AttemptResult =
  | Delivery
  | { readonly kind: 'failed'; readonly failure: AttemptFailure }
  /** A subscription account's own answer (its window, its token): the account is dealt with, not the provider. */
  | { readonly kind: 'account'; readonly answer: AccountAnswer; readonly failure: AttemptFailure };

const ERROR_BODY_LIMIT = 64 * 1024;
/** Far above any real message (128k output tokens are well under 1 MiB); a bigger body is not a message. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** No route knows the model: a 404 whose model label stays fixed, so callers cannot mint series with names. */
export class NoRouteError extends GatewayError {
  constructor(model: string, patterns: readonly string[]) {
    super(404, 'not_found_error', `model: no route for '${model}'. Routed models and patterns: ${patterns.join(', ')}`);
  }
}

/**
 * Tries a request on its candidates in order, inside the one client request: connection errors, timeouts, failover
 * statuses, error bodies and error events all move on to the next candidate before any byte reaches the client.
 */
@Injectable()
export class UpstreamExecutor {
  constructor(
    private readonly providers: ProvidersService,
    private readonly adapters: AdapterRegistry,
    private readonly health: HealthStore,
    private readonly recorder: AttemptRecorder,
    private readonly accounts: AccountService,
  ) {}

  /** The candidates for the request under the config it started with; 404 when no route knows the model. */
  async plan(request: MessageRequest, runtime: GatewayRuntime): Promise<AttemptPlan> {
    const selection = await this.providers.plan(runtime, request.model, request.sessionId);
    if (selection.route === null) {
      throw new NoRouteError(request.model, runtime.routes.patterns);
    }
    if (selection.attempts.length === 0) {
      const reasons = selection.verdicts.map((v) => `${v.provider}: ${v.reason}`);
      throw allFailed(
        request.model,
        reasons,
        runtime,
        this.earliestRecovery(selection.verdicts.map((v) => v.provider)),
      );
    }
    const fair = await this.accounts.fairOrder(selection.attempts, request);
    return new AttemptPlan(fair.demoted.length > 0 ? { ...selection, attempts: fair.attempts } : selection);
  }

  /** Opens the plan's next candidates until one answers; throws when none is left. */
  async open(
    request: MessageRequest,
    plan: AttemptPlan,
    runtime: GatewayRuntime,
    signal: AbortSignal,
  ): Promise<Delivery> {
    let previous = plan.current;
    for (let attempt = plan.next(); attempt !== undefined; attempt = plan.next()) {
      if (previous !== undefined) this.recorder.failedOver(previous, attempt);
      const result = await this.attempt(request, runtime, attempt, signal);
      if (result.kind !== 'failed' && result.kind !== 'account') {
        // A stream is a success only once it has ended well; the caller records that (or the failure) at its end.
        if (result.kind !== 'stream') this.recorder.succeeded(attempt, request.sessionId, runtime);
        return result;
      }
      this.recorder.failed(plan, attempt, result.failure, runtime, request);
      previous = attempt;
    }
    const reasons = plan.failures.map(({ provider, failure }) => `${provider}: ${failure.message}`);
    if (plan.failures.every(({ failure }) => failure.outcome === 'no_credential')) {
      throw new GatewayError(
        401,
        'authentication_error',
        `No credential to send upstream for model '${request.model}': ${reasons.join('; ')}`,
      );
    }
    if (plan.failures.every(({ failure }) => failure.outcome === 'not_claude_code')) {
      throw new GatewayError(
        403,
        'permission_error',
        `model '${request.model}' is routed only to Claude subscription accounts, which serve only Claude Code's own requests; add an API-key provider to the route for other clients.`,
        { 'x-should-retry': 'false' },
      );
    }
    const tried = plan.selection.attempts.map((a) => a.provider.name);
    throw allFailed(request.model, reasons, runtime, this.earliestRecovery(tried));
  }

  private async attempt(
    request: MessageRequest,
    runtime: GatewayRuntime,
    planned: PlannedAttempt,
    signal: AbortSignal,
  ): Promise<AttemptResult> {
    const { provider } = planned;
    if (provider.authType === 'oauth') return this.accountAttempt(request, runtime, planned, signal);
    const credential = credentialFor(provider, request.headers, request.clientKey);
    if (!credential) return failed(noCredential(provider));
    return this.call(request, runtime, planned, signal, credential);
  }

  /**
   * An attempt on a subscription-account provider: Claude Code's own requests only, on one account after another
   * while accounts answer with something that is theirs (a window exhausted, a throttle, a dead token), refreshing
   * and retrying the same account once after an expired token. None of that is the provider's failure.
   */
  private async accountAttempt(
    request: MessageRequest,
    runtime: GatewayRuntime,
    planned: PlannedAttempt,
    signal: AbortSignal,
  ): Promise<AttemptResult> {
    if (!isClaudeCodeRequest(request.body)) {
      return failed({
        outcome: 'not_claude_code',
        message: "subscription accounts serve only Claude Code's own requests",
        countsAgainstHealth: false,
        status: 403,
      });
    }
    const tried = new Set<string>();
    for (;;) {
      const lease = await this.accounts.lease(planned.provider, request, tried);
      if (!lease.ok) {
        return failed({ outcome: 'no_account', message: lease.reason, countsAgainstHealth: false, status: 503 });
      }
      tried.add(lease.email);
      let retried = false;
      let current = lease;
      for (;;) {
        const result = await this.call(request, runtime, planned, signal, current.credential, current);
        if (result.kind !== 'account') return result;
        const verdict = await this.accounts.settle(current, result.answer, request.model, retried);
        this.recorder.accountAnswered(planned, current.email, result.answer, result.failure, runtime);
        if (verdict === 'done') return failed(result.failure);
        if (verdict === 'next') break;
        retried = true;
        const again = await this.accounts.lease(
          planned.provider,
          request,
          new Set([...tried].filter((e) => e !== current.email)),
        );
        if (!again.ok || again.email !== current.email) break;
        current = again;
      }
    }
  }

  private async call(
    request: MessageRequest,
    runtime: GatewayRuntime,
    planned: PlannedAttempt,
    signal: AbortSignal,
    credential: Credential,
    lease?: AccountLease,
  ): Promise<AttemptResult> {
    const { provider } = planned;
    const call = prepareOrRefuse(request.requestId, () =>
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
        signal,
        headersTimeout: settings.timeouts.firstByteMs,
        bodyTimeout: settings.timeouts.idleMs,
      });
    } catch (error) {
      if (isAbortError(error) || signal.aborted) throw new ClientGoneError();
      return failed(networkFailure(error));
    }
    const attempt: AnsweringAttempt = {
      planned,
      provider,
      status: response.statusCode,
      headers: response.headers,
      account: lease?.email,
    };
    const patterns = settings.unhealthyResponseBodyPatterns;
    const verdict = judgeStatus(response.statusCode, settings);
    if (verdict !== 'success') {
      const text = await readLimited(response.body, ERROR_BODY_LIMIT, signal);
      if (lease) {
        void this.accounts.observe(lease, response.headers);
        const answer = classifyAccountAnswer(response.statusCode, response.headers, text);
        if (answer.kind !== 'provider') {
          return { kind: 'account', answer, failure: httpFailure(response.statusCode, text, response.headers) };
        }
      }
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
    if (lease) void this.accounts.observe(lease, response.headers);
    return request.stream
      ? this.openStream(call, response, attempt, patterns)
      : this.readMessage(call, response, attempt, patterns, signal);
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
    let text: string | undefined;
    try {
      text = await readWhole(response.body, MAX_MESSAGE_BYTES);
    } catch (error) {
      if (isAbortError(error) || signal.aborted) throw new ClientGoneError();
      return failed(networkFailure(error));
    }
    if (text === undefined) {
      return failed({
        outcome: 'bad_response',
        message: `the upstream's answer is larger than ${MAX_MESSAGE_BYTES / (1024 * 1024)} MiB`,
        countsAgainstHealth: true,
        status: 502,
      });
    }
    let parsed: { type?: unknown; error?: unknown } | null;
    try {
      parsed = parseBoundedJson(text) as typeof parsed;
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
    return { kind: 'message', attempt, body: translated.body, usage };
  }

  private earliestRecovery(providers: readonly string[]): number | undefined {
    const untils = providers
      .map((name) => this.health.snapshot(name).cooldownUntil)
      .filter((until): until is number => until !== null);
    return untils.length > 0 ? Math.min(...untils) : undefined;
  }
}

/**
 * Content that only a conversion reads (OpenAI providers) and finds wrongly shaped is the client's fault: a 400.
 * Anything else a conversion throws is a bug in the gateway: a 500 that keeps the failure as its cause.
 */
function prepareOrRefuse(requestId: string, prepare: () => PreparedCall): PreparedCall {
  try {
    return prepare();
  } catch (error) {
    if (error instanceof ConversionInputError) {
      throw GatewayError.invalidRequest(`The request body could not be converted: ${error.message}`, error);
    }
    if (error instanceof GatewayError) throw error;
    throw GatewayError.internal(requestId, error);
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

/** The whole body as text, or undefined (and the body destroyed) once it passes the limit. */
async function readWhole(body: Dispatcher.ResponseData['body'], limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
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
