import type { IncomingHttpHeaders } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { logUnexpected } from '../common/anthropic-exception.filter';
import { errorBody, GatewayError } from '../common/gateway-error';
import type { DedupTicket } from '../dedup/dedup-ticket';
import { MetricsService } from '../metrics/metrics.service';
import { UsageRecorder } from '../usage/usage-recorder';
import type { RequestContext } from '../request/request-context';
import { RequestFinisher } from '../request/request-finisher';
import type { AttemptPlan } from './attempt-plan';
import { AttemptRecorder } from './attempt-recorder';
import type { CallEnd, CallHead, CallSink } from './call-answer';
import { CallLifetime } from './call-lifetime';
import { acceptMessage, type MessageRequest } from './message-request';
import { ReplySink } from './reply-sink';
import { ClientGoneError } from './stream-gate';
import { pumpStream } from './stream-pump';
import type { TokenUsage } from './token-usage';
import { type AnsweringAttempt, type Delivery, NoRouteError, UpstreamExecutor } from './upstream-executor';

const PASSED_THROUGH_HEADERS = /^(request-id|anthropic-ratelimit-.*|retry-after|retry-after-ms)$/;

/**
 * Serves POST /v1/messages: the request leads its own upstream call (alone, or with identical requests reading
 * along), follows one another request leads, or is answered from the replay cache.
 */
@Injectable()
export class MessagesService {
  private readonly logger = new Logger('Messages');

  constructor(
    private readonly executor: UpstreamExecutor,
    private readonly recorder: AttemptRecorder,
    private readonly finisher: RequestFinisher,
    private readonly metrics: MetricsService,
    private readonly usage: UsageRecorder,
  ) {}

  /**
   * Returns once the request is under way, not when its answer ends: a stream can last minutes, and the framework's
   * per-request machinery (interceptor chains, execution context) would be held for all of it. What must happen at the
   * end (limits given back, the access line, usage) hangs on the response closing, not on this call.
   */
  handle(context: RequestContext, request: FastifyRequest, reply: FastifyReply): void {
    const message = acceptMessage(context, request, 'messages');
    this.finisher.track(context);
    this.serve(context, message, reply, context.dedup);
  }

  private serve(
    context: RequestContext,
    message: MessageRequest,
    reply: FastifyReply,
    ticket: DedupTicket | undefined,
  ): void {
    const sink = new ReplySink(context, reply, {
      stream: message.stream,
      dedup: dedupKind(ticket),
      assembled: ticket?.role === 'follower' ? () => ticket.source.message() : undefined,
    });
    switch (ticket?.role) {
      case 'replay':
        this.usage.record(context, message.model);
        sink.replay(ticket.answer);
        return;
      case 'follower':
        this.follow(context, message, reply, sink, ticket);
        return;
      case 'leader':
      case undefined:
        this.lead(context, message, sink, ticket).catch((error: unknown) =>
          logUnexpected(this.logger, context.id, GatewayError.internal(context.id, error)),
        );
        return;
    }
  }

  /**
   * Reads along with the call an identical request leads. Should that call be given up before this client got
   * anything (the replica leading it died or Redis went away), the request is decided again, and most often leads a
   * call of its own: the client never sees the other request's trouble.
   */
  private follow(
    context: RequestContext,
    message: MessageRequest,
    reply: FastifyReply,
    sink: ReplySink,
    ticket: Extract<DedupTicket, { role: 'follower' }>,
  ): void {
    // Accounted once: as soon as something went to its client, else at the call's end or when its reply is over. A
    // follower that takes over (its client had nothing yet) is accounted by the call it makes instead.
    let accounted = false;
    const account = () => {
      if (accounted) return;
      accounted = true;
      this.usage.record(context, message.model);
    };
    const reader: CallSink = {
      start: (head) => {
        sink.start(head);
        if (sink.committed) account();
      },
      write: (chunk) => sink.write(chunk),
      drained: () => sink.drained(),
      end: (outcome) => {
        account();
        sink.end(outcome);
      },
      takeOver: () => {
        if (!ticket.reclaim || sink.committed || reply.raw.destroyed) return false;
        accounted = true;
        ticket.source.detach(reader);
        this.logger.log(`[${context.id}] the identical request it read along with was given up; deciding again`);
        void ticket.reclaim().then(
          (next) => this.serve(context, message, reply, (context.dedup = next)),
          () => this.serve(context, message, reply, (context.dedup = undefined)),
        );
        return true;
      },
    };
    ticket.source.attach(reader);
    sink.onSettled(() => {
      ticket.source.detach(reader);
      account();
    });
  }

  private async lead(
    context: RequestContext,
    message: MessageRequest,
    sink: ReplySink,
    ticket: Extract<DedupTicket, { role: 'leader' }> | undefined,
  ): Promise<void> {
    const readers: CallSink[] = ticket ? [sink, ticket.lease] : [sink];
    const lifetime = new CallLifetime(ticket?.lease, ticket?.orphanGraceMs ?? 0);
    sink.onGone(() => lifetime.clientLeft());
    const runtime = context.runtime;
    let plan: AttemptPlan | undefined;
    let delivered = false;
    try {
      plan = await this.executor.plan(message, runtime);
      const delivery = await this.executor.open(message, plan, runtime, lifetime.signal);
      delivered = true;
      await this.deliver(context, message, plan, delivery, readers, lifetime.signal);
    } catch (error) {
      if (!delivered) this.usage.record(context, message.model);
      if (error instanceof NoRouteError) context.modelLabel = 'unrouted';
      startAll(readers, this.errorHead(error, context));
      endAll(readers, { failed: true });
    } finally {
      lifetime.finish();
      context.fields.attempts = plan?.attempts ?? 0;
      if (plan && plan.failures.length > 0) context.fields.failed_providers = plan.failures.map((f) => f.provider);
    }
  }

  private async deliver(
    context: RequestContext,
    message: MessageRequest,
    plan: AttemptPlan,
    delivery: Delivery,
    readers: readonly CallSink[],
    signal: AbortSignal,
  ): Promise<void> {
    const provider = delivery.attempt.provider.name;
    const headers = responseHeaders(delivery.attempt);
    switch (delivery.kind) {
      case 'upstream-error':
        this.usage.record(context, message.model);
        startAll(readers, { kind: 'error', status: delivery.status, headers, body: delivery.body });
        endAll(readers, { failed: true });
        return;
      case 'message':
        startAll(readers, { kind: 'message', status: delivery.attempt.status, headers, body: delivery.body });
        endAll(readers, { failed: false });
        this.account(context, delivery.attempt, message.model, delivery.usage);
        return;
      case 'stream': {
        startAll(readers, { kind: 'stream', status: delivery.attempt.status, headers });
        const runtime = context.runtime;
        const outcome = await pumpStream(delivery, readers, {
          provider,
          patterns: runtime.config.settings.unhealthyResponseBodyPatterns,
          signal,
          scrub: (text) => runtime.scrubber.scrub(text),
        });
        if (outcome.failure) {
          const failure = this.recorder.failed(
            plan,
            delivery.attempt.planned,
            outcome.failure,
            runtime,
            message,
            'mid-stream',
          );
          context.fields.error = `mid-stream failure: ${failure.message}`;
        } else if (!outcome.cancelled) {
          this.recorder.succeeded(delivery.attempt.planned, message.sessionId, runtime);
        }
        endAll(readers, outcome.end);
        this.account(context, delivery.attempt, message.model, delivery.usage);
        return;
      }
    }
  }

  /** Once per led call, when its usage is final (a stream's at its end, even after its client left). */
  private account(context: RequestContext, attempt: AnsweringAttempt, model: string, usage: TokenUsage): void {
    context.fields.tokens = usage;
    this.metrics.countTokens(attempt.provider.name, model, context.clientName, usage);
    this.usage.record(context, model, {
      provider: attempt.provider,
      upstreamModel: attempt.planned.upstreamModel,
      usage,
      account: attempt.account,
    });
  }

  private errorHead(error: unknown, context: RequestContext): CallHead {
    if (error instanceof ClientGoneError) {
      return { kind: 'error', status: 499, headers: {}, body: JSON.stringify(errorBody('api_error', error.message)) };
    }
    const known = error instanceof GatewayError ? error : GatewayError.internal(context.id, error);
    if (known.status >= 500 && known.cause !== undefined) logUnexpected(this.logger, context.id, known);
    context.fields.error = known.message;
    return {
      kind: 'error',
      status: known.status,
      headers: { ...known.headers },
      body: JSON.stringify(known.body(context.id)),
    };
  }
}

function startAll(readers: readonly CallSink[], head: CallHead): void {
  for (const reader of readers) reader.start(head);
}

function endAll(readers: readonly CallSink[], outcome: CallEnd): void {
  for (const reader of readers) reader.end(outcome);
}

function dedupKind(ticket: DedupTicket | undefined): 'inflight' | 'cache' | undefined {
  if (ticket?.role === 'follower') return 'inflight';
  if (ticket?.role === 'replay') return 'cache';
  return undefined;
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
