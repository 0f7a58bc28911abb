import { Injectable, Logger } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../common/gateway-error';
import type { RequestContext } from '../request/request-context';
import { AdapterRegistry } from '../providers/adapter-registry';
import { ProvidersService } from '../providers/providers.service';
import { type Credential, credentialFor } from '../providers/upstream-headers';
import type { ProviderConfig } from '../config/gateway-config';
import { AccountService } from '../oauth/account.service';
import { isClaudeCodeRequest } from '../oauth/claude-code-identity';
import { acceptMessage, type MessageRequest } from './message-request';
import { countTokensLocally } from './token-counter';

export interface TokenCount {
  readonly input_tokens: number;
  /** Which provider counted, or "local" for the gateway's own tokenizer. */
  readonly source: string;
}

const COUNT_TIMEOUT_MS = 10_000;

/**
 * count_tokens: the routed provider's own endpoint when it has one and answers, else a local tokenizer count. Relays
 * often lack the endpoint, so a failure here never counts against a provider's health.
 */
@Injectable()
export class CountTokensService {
  private readonly logger = new Logger('CountTokens');

  constructor(
    private readonly providers: ProvidersService,
    private readonly adapters: AdapterRegistry,
    private readonly accounts: AccountService,
  ) {}

  async count(context: RequestContext, request: FastifyRequest): Promise<TokenCount> {
    const message = acceptMessage(context, request, 'count_tokens');
    const { model, body } = message;
    const plan = await this.providers.plan(context.runtime, model, message.sessionId, true);
    if (plan.route === null) throw new GatewayError(404, 'not_found_error', `model: no route for '${model}'.`);
    const routed = plan.attempts[0];
    const credential = routed && (await this.credential(routed.provider, message, request, context));
    const call =
      routed &&
      credential &&
      this.adapters.for(routed.provider).prepareCountTokens({
        request: message,
        provider: routed.provider,
        upstreamModel: routed.upstreamModel,
        credential,
      });
    if (routed && call) {
      const signal = AbortSignal.timeout(COUNT_TIMEOUT_MS);
      const counted = await this.askProvider(routed.provider.name, routed.provider.origin, call, signal);
      if (counted !== undefined) return { input_tokens: counted, source: routed.provider.name };
    }
    let json;
    try {
      json = body.json;
    } catch (error) {
      throw GatewayError.invalidRequest(`The request body is not valid JSON: ${(error as Error).message}`, error);
    }
    return { input_tokens: countTokensLocally(json), source: 'local' };
  }

  /** The provider's credential; for subscription accounts, an account's (Claude Code's requests only). */
  private async credential(
    provider: ProviderConfig,
    message: MessageRequest,
    request: FastifyRequest,
    context: RequestContext,
  ): Promise<Credential | undefined> {
    if (provider.authType !== 'oauth') return credentialFor(provider, request.headers, context.clientKey);
    if (!isClaudeCodeRequest(message.body)) return undefined;
    const lease = await this.accounts.lease(provider, message, new Set());
    return lease.ok ? lease.credential : undefined;
  }

  private async askProvider(
    provider: string,
    origin: string,
    call: { path: string; headers: Record<string, string>; body: string | Buffer },
    signal: AbortSignal,
  ): Promise<number | undefined> {
    try {
      const response = await this.providers.dispatchers.get(provider).request({
        origin,
        path: call.path,
        method: 'POST',
        headers: call.headers,
        body: call.body,
        signal,
        headersTimeout: COUNT_TIMEOUT_MS,
        bodyTimeout: COUNT_TIMEOUT_MS,
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) {
        this.logger.debug(`${provider} count_tokens answered ${response.statusCode}; counting locally`);
        return undefined;
      }
      const tokens = (JSON.parse(text) as { input_tokens?: unknown }).input_tokens;
      return typeof tokens === 'number' ? tokens : undefined;
    } catch (error) {
      this.logger.debug(`${provider} count_tokens failed (${(error as Error).message}); counting locally`);
      return undefined;
    }
  }
}
