import { Injectable, Logger } from '@nestjs/common';
import type { GatewayRuntime } from '../config/gateway-runtime';
import { MetricsService } from '../metrics/metrics.service';
import { ProvidersService } from '../providers/providers.service';
import type { AttemptFailure } from '../providers/upstream-failure';
import type { PlannedAttempt } from '../routing/candidate-selector';
import { HealthStore } from '../state/health.store';
import type { AccountAnswer } from '../oauth/account-answer';
import type { AttemptPlan } from './attempt-plan';

/**
 * The one place an upstream attempt's outcome is recorded: the attempts counter, provider health (and the gauge),
 * the sticky choice after a success, the failover counter, and a log line for each failure.
 */
@Injectable()
export class AttemptRecorder {
  private readonly logger = new Logger('Upstream');

  constructor(
    private readonly providers: ProvidersService,
    private readonly health: HealthStore,
    private readonly metrics: MetricsService,
  ) {}

  failedOver(from: PlannedAttempt, to: PlannedAttempt): void {
    this.metrics.failovers.labels(from.provider.name, to.provider.name).inc();
  }

  /** Records a failure and returns it with any secret scrubbed from its message. */
  failed(
    plan: AttemptPlan,
    attempt: PlannedAttempt,
    failure: AttemptFailure,
    runtime: GatewayRuntime,
    context: { readonly requestId: string; readonly model: string },
    when: 'before' | 'mid-stream' = 'before',
  ): AttemptFailure {
    const provider = attempt.provider.name;
    const scrubbed = { ...failure, message: runtime.scrubber.scrub(failure.message) };
    if (when === 'before') plan.failed(provider, scrubbed);
    this.metrics.upstreamAttempts.labels(provider, scrubbed.outcome).inc();
    this.logger.warn(
      `[${context.requestId}] ${provider} failed${when === 'mid-stream' ? ' mid-stream' : ''} for ${context.model}: ${scrubbed.message}`,
    );
    if (scrubbed.countsAgainstHealth && this.providers.isCurrent(provider)) {
      void this.health
        .recordFailure(provider, scrubbed.message, runtime.config.settings, scrubbed.retryAfterMs)
        .then((outcome) => {
          if (!outcome.enteredCooldown) return;
          this.metrics.providerHealthy.labels(provider).set(0);
          this.logger.warn(
            `Provider ${provider} is cooling down until ${new Date(outcome.cooldownUntil).toISOString()}: ${scrubbed.message}`,
          );
        })
        .catch((error: unknown) => this.logger.error(`Could not record a failure of ${provider}: ${String(error)}`));
    }
    return scrubbed;
  }

  /** A subscription account's own answer: counted as the attempt's outcome, never against the provider's health. */
  accountAnswered(
    attempt: PlannedAttempt,
    account: string,
    answer: AccountAnswer,
    failure: AttemptFailure,
    runtime: GatewayRuntime,
  ): void {
    const provider = attempt.provider.name;
    this.metrics.upstreamAttempts.labels(provider, `account_${answer.kind}`).inc();
    this.logger.warn(`${provider} account ${account}: ${answer.kind} (${runtime.scrubber.scrub(failure.message)})`);
  }

  succeeded(attempt: PlannedAttempt, sessionId: string | undefined, runtime: GatewayRuntime): void {
    const provider = attempt.provider.name;
    this.metrics.upstreamAttempts.labels(provider, 'success').inc();
    if (!this.providers.isCurrent(provider)) return;
    const settings = runtime.config.settings;
    const wasUnhealthy = !this.health.isUsable(provider);
    void Promise.all([
      this.health.recordSuccess(provider, settings),
      this.providers.selector.recordSuccess(attempt.route, sessionId, provider, settings),
    ])
      .then(() => {
        if (wasUnhealthy || this.health.isUsable(provider)) this.metrics.providerHealthy.labels(provider).set(1);
      })
      .catch((error: unknown) => this.logger.error(`Could not record a success of ${provider}: ${String(error)}`));
  }
}
