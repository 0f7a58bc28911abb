import type { Settings } from '../config/gateway-config';

export interface ProviderHealthSnapshot {
  readonly healthy: boolean;
  readonly failureCount: number;
  readonly cooldownUntil: number | null;
  readonly lastError: string | null;
  readonly lastFailureAt: number | null;
  readonly lastSuccessAt: number | null;
}

export type HealthSettings = Pick<
  Settings,
  'unhealthyThreshold' | 'failureCooldownSeconds' | 'unhealthyResetOnSuccess' | 'unhealthyResetTimeoutSeconds'
>;

export interface FailureOutcome {
  readonly enteredCooldown: boolean;
  readonly cooldownUntil: number;
}

/**
 * Circuit-breaker state per provider, keyed by provider name so that it survives a config reload. Failures in a row
 * reaching the threshold start a cooldown; an upstream `retry-after` sets a cooldown of at least that long straight
 * away, because the provider has said when it will take requests again.
 *
 * Reads are synchronous (routing asks on every request, so a shared store answers from a local mirror); writes are
 * asynchronous so that a shared store can count failures in a row atomically across replicas.
 */
export abstract class HealthStore {
  abstract isUsable(name: string): boolean;
  abstract snapshot(name: string): ProviderHealthSnapshot;
  abstract recordFailure(
    name: string,
    error: string,
    settings: HealthSettings,
    retryAfterMs?: number,
  ): Promise<FailureOutcome>;
  abstract recordSuccess(name: string, settings: HealthSettings): Promise<void>;
  /** Ends cooldowns that have run out; returns the providers that became usable again. */
  abstract expireCooldowns(): Promise<string[]>;
  /** Forgets providers that no longer exist after a reload. */
  abstract retainOnly(names: ReadonlySet<string>): Promise<void>;
}
