import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SharedCall } from '../dedup/shared-call';
import type { DedupTicket } from '../dedup/dedup-ticket';
import { requestIdOf, requestLogOf } from '../logging/request-log';
import { ProvidersService } from '../providers/providers.service';
import { CallDelivery, type ClientContext } from './call-delivery';
import { checkedBody, toMessageRequest } from './message-request';
import { UpstreamRunner } from './upstream-runner';

/** Serves POST /v1/messages: validate, then either run the upstream call or attach to one, and deliver the answer. */
@Injectable()
export class MessagesService {
  constructor(
    private readonly providers: ProvidersService,
    private readonly runner: UpstreamRunner,
    private readonly delivery: CallDelivery,
  ) {}

  async handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const runtime = this.providers.runtime;
    const body = checkedBody(request, runtime);
    const log = requestLogOf(request.raw);
    const client: ClientContext = {
      model: body.value('model') as string,
      stream: body.value('stream') === true,
      clientName: request.gatewayClient?.name ?? 'anonymous',
      receivedAt: Date.now(),
      log,
      dedup: dedupKind(request.dedupTicket),
    };
    log.model = client.model;
    log.stream = client.stream;
    const ticket: DedupTicket = request.dedupTicket ?? { role: 'leader', call: new SharedCall(0) };
    switch (ticket.role) {
      case 'replay':
        return this.delivery.replay(ticket.answer, client, reply);
      case 'follower':
        return this.delivery.serve(ticket.call, client, reply);
      case 'leader':
        void this.runner.run(
          ticket.call,
          requestIdOf(request.raw),
          () => toMessageRequest(request, body, ticket.call.signal),
          runtime,
          log,
        );
        return this.delivery.serve(ticket.call, client, reply);
    }
  }
}

function dedupKind(ticket: DedupTicket | undefined): ClientContext['dedup'] {
  if (ticket?.role === 'follower') return 'inflight';
  if (ticket?.role === 'replay') return 'cache';
  return undefined;
}
