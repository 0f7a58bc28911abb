import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import { statusForBrokenStream } from '../common/error-table';
import { errorBody } from '../common/gateway-error';
import type { CachedAnswer } from '../dedup/dedup.store';
import type { AssembledMessage } from '../dedup/message-assembler';
import { messageToSse } from '../dedup/message-replay';
import type { SseChunk } from '../providers/provider-adapter';
import type { RequestContext } from '../request/request-context';
import type { CallEnd, CallHead, CallSink } from './call-answer';

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

export interface ReplyOptions {
  /** The client asked for a stream. */
  readonly stream: boolean;
  /** Set when this client is served by another request's call or by the replay cache. */
  readonly dedup?: 'inflight' | 'cache';
  /** The message a streaming call assembled, for a client that asked for one JSON answer. */
  readonly assembled?: () => AssembledMessage | undefined;
}

type ReplyState = 'waiting' | 'awaiting-end' | 'streaming' | 'done';

/**
 * One client's reply, as a reader of a call: in the mode the client asked for, whatever mode the call runs in. A
 * streaming client of a streaming call gets each chunk written straight to its socket; a streaming client of a
 * non-streaming call gets the message as events; a non-streaming client of a streaming call gets the assembled
 * message, nothing lost.
 */
export class ReplySink implements CallSink {
  private state: ReplyState = 'waiting';
  private head: CallHead | undefined;
  private readonly goneListeners: (() => void)[] = [];
  private readonly settledListeners: (() => void)[] = [];
  private settled = false;

  constructor(
    private readonly context: RequestContext,
    private readonly reply: FastifyReply,
    private readonly options: ReplyOptions,
  ) {
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) for (const listener of this.goneListeners) listener();
      this.settle();
    });
  }

  /** Whether anything has gone to the client yet (a head, a chunk, an answer). */
  get committed(): boolean {
    return this.state === 'streaming' || this.state === 'done';
  }

  /** The client went away before its answer was complete. */
  onGone(listener: () => void): void {
    this.goneListeners.push(listener);
  }

  /** The reply is over: sent whole, or the client went away. */
  onSettled(listener: () => void): void {
    if (this.settled) listener();
    else this.settledListeners.push(listener);
  }

  /** A replay-cache hit: the stored message, in the mode the client asked for. */
  replay(answer: CachedAnswer): void {
    this.start({ kind: 'message', status: answer.status, headers: { ...answer.headers }, body: answer.body });
  }

  start(head: CallHead): void {
    if (this.head) return;
    this.head = head;
    const provider = head.headers['x-provider-used'];
    if (provider) {
      this.context.provider = provider;
      this.context.fields.provider = provider;
    }
    if (this.reply.raw.destroyed) {
      this.markDedup();
      this.state = 'done';
      return;
    }
    if (head.kind === 'stream') {
      if (this.options.stream) this.openStream(head);
      else this.state = 'awaiting-end';
      return;
    }
    if (head.kind === 'message' && this.options.stream) {
      this.sendEvents(head, messageToSse(JSON.parse(head.body) as Record<string, unknown>));
      return;
    }
    this.sendJson(head.status, head.headers, head.body);
  }

  write(chunk: SseChunk): boolean {
    // A client that left reads nothing more; the call may go on for others.
    if (this.state !== 'streaming' || this.reply.raw.destroyed) return true;
    return this.reply.raw.write(chunk);
  }

  drained(): Promise<void> {
    const raw = this.reply.raw;
    if (this.state !== 'streaming' || raw.destroyed || !raw.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        raw.off('drain', done);
        raw.off('close', done);
        resolve();
      };
      raw.once('drain', done);
      raw.once('close', done);
    });
  }

  end(outcome: CallEnd): void {
    if (this.state === 'streaming') {
      this.state = 'done';
      if (outcome.failed) this.context.statusLabel = 'stream_error';
      if (!this.reply.raw.destroyed) this.reply.raw.end();
      return;
    }
    if (this.state !== 'awaiting-end' || !this.head) return;
    const message = outcome.failed ? undefined : this.options.assembled?.();
    if (message) {
      this.sendJson(this.head.status, this.head.headers, JSON.stringify(message));
      return;
    }
    this.context.fields.error = 'the upstream stream failed before the message was complete';
    const type = outcome.error?.type ?? 'api_error';
    const text = outcome.error?.message ?? 'The upstream stream ended before the message was complete.';
    this.sendJson(statusForBrokenStream(type), this.head.headers, JSON.stringify(errorBody(type, text)));
  }

  private openStream(head: CallHead): void {
    this.commit('streaming');
    const headers: OutgoingHttpHeaders = {
      ...(this.reply.getHeaders() as OutgoingHttpHeaders),
      ...head.headers,
      ...SSE_HEADERS,
      ...this.dedupHeader(),
    };
    this.reply.hijack();
    this.reply.raw.writeHead(head.status, headers);
  }

  private sendEvents(head: CallHead, events: string): void {
    this.commit('done');
    void this.reply
      .code(head.status)
      .headers({ ...head.headers, ...SSE_HEADERS, ...this.dedupHeader() })
      .send(events);
  }

  private sendJson(status: number, headers: Readonly<Record<string, string>>, body: string): void {
    this.commit('done');
    void this.reply
      .code(status)
      .headers({ ...headers, ...this.dedupHeader() })
      .type('application/json')
      .send(body);
  }

  /** The client's answer starts going out now. */
  private commit(state: 'streaming' | 'done'): void {
    this.state = state;
    this.context.markFirstByte();
    this.markDedup();
  }

  /**
   * The access line says where the answer came from once the client is answered from it: a JSON reader of a stream
   * that is given up before its end makes a call of its own instead, and is no dedup hit.
   */
  private markDedup(): void {
    if (this.options.dedup) this.context.fields.dedup = this.options.dedup;
  }

  private dedupHeader(): Record<string, string> {
    return this.options.dedup ? { 'x-dedup': this.options.dedup } : {};
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    for (const listener of this.settledListeners.splice(0)) listener();
  }
}
