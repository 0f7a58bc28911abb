import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { errorBody } from '../common/gateway-error';
import type { CachedAnswer } from '../dedup/dedup.store';
import { assembleMessage } from '../dedup/message-assembler';
import { messageToSse } from '../dedup/message-replay';
import type { CallHead, CallSubscription, SharedCall } from '../dedup/shared-call';
import type { RequestLog } from '../logging/request-log';
import { MetricsService } from '../metrics/metrics.service';
import type { SseChunk } from '../providers/provider-adapter';
import { SseEventScanner } from './sse';

/** One client's side of a request: what it asked for and how its answer is accounted. */
export interface ClientContext {
  readonly model: string;
  readonly stream: boolean;
  readonly clientName: string;
  readonly receivedAt: number;
  readonly log: RequestLog;
  /** Set when this client is served by another request's call or by the replay cache. */
  readonly dedup?: 'inflight' | 'cache';
}

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/**
 * Sends a call's answer to one client, in the mode that client asked for: a streaming client of a non-streaming call
 * gets the message as events, a non-streaming client of a streaming call gets the assembled message, nothing lost.
 */
@Injectable()
export class CallDelivery {
  constructor(private readonly metrics: MetricsService) {}

  async serve(call: SharedCall, client: ClientContext, reply: FastifyReply): Promise<void> {
    const subscription = call.subscribe();
    reply.raw.once('close', () => subscription.release());
    this.metrics.inflight.inc();
    let settled = false;
    const settle = (provider: string, status: string) => {
      if (settled) return;
      settled = true;
      subscription.release();
      this.metrics.inflight.dec();
      this.count(client, provider, status);
    };
    const head = await subscription.head;
    const provider = head.headers['x-provider-used'] ?? 'none';
    if (reply.raw.destroyed) {
      // The client left while the call was starting (the call may live on for others or its grace period).
      settle(provider, 'client_closed');
      return;
    }
    this.prepareReply(reply, head.headers, client);
    try {
      if (head.kind === 'stream' && client.stream) {
        this.observeFirstByte(client, provider);
        const body = Readable.from(subscription.chunks(), { objectMode: false });
        // 'close' fires however the stream ends, even when it is destroyed before its first read.
        body.once('close', () =>
          settle(
            provider,
            !reply.raw.writableFinished ? 'client_closed' : call.failed ? 'stream_error' : String(head.status),
          ),
        );
        await reply.code(head.status).headers(SSE_HEADERS).send(body);
        return;
      }
      const answer = await this.answerFor(head, call, subscription, client);
      this.observeFirstByte(client, provider);
      settle(provider, String(answer.status));
      await this.send(reply, answer, client.stream);
    } catch (error) {
      settle(provider, 'error');
      throw error;
    }
  }

  /** A replay-cache hit: the stored message, in the mode the client asked for. */
  async replay(answer: CachedAnswer, client: ClientContext, reply: FastifyReply): Promise<void> {
    this.prepareReply(reply, answer.headers, client);
    this.observeFirstByte(client, answer.provider);
    this.count(client, answer.provider, String(answer.status));
    await this.send(reply, { status: answer.status, body: answer.body, message: true }, client.stream);
  }

  private async answerFor(head: CallHead, call: SharedCall, subscription: CallSubscription, client: ClientContext) {
    if (head.kind !== 'stream') return { status: head.status, body: head.body, message: head.kind === 'message' };
    await subscription.ended;
    const assembled = call.failed ? undefined : assembleMessage(call.log);
    if (assembled) return { status: head.status, body: JSON.stringify(assembled), message: true };
    client.log.error = 'the upstream stream failed before the message was complete';
    return streamFailureAnswer(call.log);
  }

  private async send(reply: FastifyReply, answer: { status: number; body: string; message: boolean }, stream: boolean) {
    if (stream && answer.message) {
      await reply
        .code(answer.status)
        .headers(SSE_HEADERS)
        .send(messageToSse(JSON.parse(answer.body) as Record<string, unknown>));
      return;
    }
    await reply.code(answer.status).type('application/json').send(answer.body);
  }

  private prepareReply(reply: FastifyReply, headers: Readonly<Record<string, string>>, client: ClientContext): void {
    void reply.headers(headers);
    if (client.dedup) void reply.header('x-dedup', client.dedup);
    client.log.provider = headers['x-provider-used'];
    if (client.dedup) client.log.dedup = client.dedup;
  }

  private observeFirstByte(client: ClientContext, provider: string): void {
    this.metrics.timeToFirstByte.labels(provider).observe((Date.now() - client.receivedAt) / 1000);
  }

  private count(client: ClientContext, provider: string, status: string): void {
    client.log.counted = true;
    // A model no route knows is whatever the caller typed: labelling it would let callers mint new series.
    const model = provider === 'none' && status === '404' ? 'unrouted' : client.model;
    this.metrics.requests.labels(provider, model, status, client.clientName).inc();
    this.metrics.requestDuration
      .labels(provider, String(client.stream))
      .observe((Date.now() - client.receivedAt) / 1000);
  }
}

/** The error a non-streaming client gets for a stream that broke: the stream's own error event, as an HTTP error. */
function streamFailureAnswer(log: readonly SseChunk[]): { status: number; body: string; message: false } {
  const scanner = new SseEventScanner();
  let error: { type?: string; message?: string } | undefined;
  for (const chunk of log) {
    for (const event of scanner.push(chunk)) {
      if (event.type !== 'error') continue;
      try {
        error = (JSON.parse(event.data) as { error?: { type?: string; message?: string } }).error;
      } catch {
        error = undefined;
      }
    }
  }
  const type = error?.type ?? 'api_error';
  const status = type === 'overloaded_error' ? 529 : 502;
  const message = error?.message ?? 'The upstream stream ended before the message was complete.';
  return { status, body: JSON.stringify(errorBody(type, message)), message: false };
}
