import { Controller, Get, HttpCode, Post, Req, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ClientAuthGuard } from '../auth/client-auth.guard';
import { DedupInterceptor } from '../dedup/dedup.interceptor';
import { ClientLimitInterceptor } from '../limits/client-limit.interceptor';
import { AccessLogInterceptor } from '../logging/access-log.interceptor';
import { CountTokensService } from './count-tokens.service';
import { MessagesService } from './messages.service';

@Controller('v1')
@UseGuards(ClientAuthGuard)
@UseInterceptors(AccessLogInterceptor)
export class MessagesController {
  constructor(
    private readonly messages: MessagesService,
    private readonly tokens: CountTokensService,
  ) {}

  @Post('messages')
  @UseInterceptors(ClientLimitInterceptor, DedupInterceptor)
  create(@Req() request: FastifyRequest, @Res() reply: FastifyReply): void {
    this.messages.handle(request.gateway, request, reply);
  }

  @Post('messages/count_tokens')
  @HttpCode(200)
  async countTokens(@Req() request: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    const { input_tokens, source } = await this.tokens.count(request.gateway, request);
    void reply.header('x-token-count-source', source);
    return { input_tokens };
  }

  @Get('models')
  models(@Req() request: FastifyRequest) {
    const data = request.gateway.runtime.routes.patterns.map((id) => ({
      type: 'model',
      id,
      display_name: id,
      created_at: '1970-01-01T00:00:00Z',
    }));
    return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  }
}
