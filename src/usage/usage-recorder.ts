import { Injectable, Logger } from '@nestjs/common';
import type { ProviderConfig } from '../config/gateway-config';
import { MetricsService } from '../metrics/metrics.service';
import { FairShare } from '../oauth/fair-share';
import type { TokenUsage } from '../messages/token-usage';
import type { RequestContext } from '../request/request-context';
import { emptyCounts, UsageStore, utcDay } from './usage.store';

/** The upstream call that answered a request, and what it used. */
export interface AnsweredCall {
  readonly provider: ProviderConfig;
  /** The model the provider was asked for (what is priced). */
  readonly upstreamModel: string;
  readonly usage: TokenUsage;
  /** The subscription account that answered, for oauth providers. */
  readonly account?: string;
}

/**
 * Accounts every request once, to the client that made it, under the model it asked for: a request that led an
 * upstream call with that call's tokens and cost, any other (a dedup follower, a replay, a refusal after
 * admission, a failure) as a request with no tokens.
 */
@Injectable()
export class UsageRecorder {
  private readonly logger = new Logger('Usage');

  constructor(
    private readonly store: UsageStore,
    private readonly metrics: MetricsService,
    private readonly fairShare: FairShare,
  ) {}

  record(context: RequestContext, model: string, call?: AnsweredCall): void {
    const counts = emptyCounts();
    counts.requests = 1;
    if (call) {
      const { usage } = call;
      counts.inputTokens = usage.input;
      counts.outputTokens = usage.output;
      counts.cacheReadTokens = usage.cacheRead;
      counts.cacheCreationTokens = usage.cacheCreation;
      const used = usage.input + usage.output + usage.cacheRead + usage.cacheCreation;
      if (call.account) this.fairShare.record(call.account, context.clientName, used);
      const cost = used > 0 ? context.runtime.prices.cost(call.upstreamModel, usage) : 0;
      if (cost === undefined) counts.unpricedCalls = 1;
      else if (cost > 0) {
        counts.costUsd = cost;
        if (call.provider.authType === 'oauth') counts.subscriptionCostUsd = cost;
        this.metrics.costUsd.labels(context.clientName, model).inc(cost);
      }
    }
    this.store
      .add({ day: utcDay(Date.now()), client: context.clientName, model, counts })
      .catch((error: unknown) => this.logger.error(`[${context.id}] Could not record usage: ${String(error)}`));
  }
}
