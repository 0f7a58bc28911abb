import type { Settings } from '../config/gateway-config';

export interface ProviderHealthSnapshot {
  readonly healthy: boolean;
  readonly failureCount: number;
  readonly cooldownUntil: number | null;
  readonly lastError: string | null;
  readonly lastFailureAt: number | null;
  readonly lastSuccessAt: number | null;
}

interface HealthState {
  failureCount: number;
  cooldownUntil: number;
  lastError: string | null;
  lastFailureAt: number | null;
  lastSuccessAt: number | null;
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
 * Circuit-breaker state per provider, keyed by provider name so that it survives a config reload.
 * Failures in a row reaching the threshold start a cooldown; an upstream `retry-after` sets a cooldown of at least
 * that long straight away, because the provider has said when it will take requests again.
 */
export class ProviderHealth {
  private readonly states = new Map<string, HealthState>();

  constructor(private readonly now: () => number = Date.now) {}

  isUsable(name: string): boolean {
    const state = this.states.get(name);
    return !state || state.cooldownUntil <= this.now();
  }

  recordFailure(name: string, error: string, settings: HealthSettings, retryAfterMs?: number): FailureOutcome {
    const now = this.now();
    const state = this.stateOf(name);
    const resetTimeoutMs = settings.unhealthyResetTimeoutSeconds * 1000;
    if (resetTimeoutMs > 0 && state.lastFailureAt !== null && now - state.lastFailureAt > resetTimeoutMs) {
      state.failureCount = 0;
    }
    const wasCooling = state.cooldownUntil > now;
    state.failureCount += 1;
    state.lastError = error;
    state.lastFailureAt = now;
    let until = state.cooldownUntil;
    if (state.failureCount >= settings.unhealthyThreshold) {
      until = Math.max(until, now + settings.failureCooldownSeconds * 1000);
    }
    if (retryAfterMs !== undefined && retryAfterMs > 0) until = Math.max(until, now + retryAfterMs);
    state.cooldownUntil = until;
    return { enteredCooldown: !wasCooling && until > now, cooldownUntil: until };
  }

  recordSuccess(name: string, settings: HealthSettings): void {
    const state = this.stateOf(name);
    state.lastSuccessAt = this.now();
    if (settings.unhealthyResetOnSuccess) {
      state.failureCount = 0;
      state.cooldownUntil = 0;
    }
  }

  /** Ends cooldowns that have run out; returns the providers that became usable again. */
  expireCooldowns(): string[] {
    const now = this.now();
    const recovered: string[] = [];
    for (const [name, state] of this.states) {
      if (state.cooldownUntil !== 0 && state.cooldownUntil <= now) {
        state.cooldownUntil = 0;
        state.failureCount = 0;
        recovered.push(name);
      }
    }
    return recovered;
  }

  snapshot(name: string): ProviderHealthSnapshot {
    const state = this.states.get(name);
    const cooling = state !== undefined && state.cooldownUntil > this.now();
    return {
      healthy: !cooling,
      failureCount: state?.failureCount ?? 0,
      cooldownUntil: cooling ? state.cooldownUntil : null,
      lastError: state?.lastError ?? null,
      lastFailureAt: state?.lastFailureAt ?? null,
      lastSuccessAt: state?.lastSuccessAt ?? null,
    };
  }

  /** Forgets providers that no longer exist after a reload. */
  retainOnly(names: ReadonlySet<string>): void {
    for (const name of this.states.keys()) if (!names.has(name)) this.states.delete(name);
  }

  private stateOf(name: string): HealthState {
    let state = this.states.get(name);
    if (!state) {
      state = { failureCount: 0, cooldownUntil: 0, lastError: null, lastFailureAt: null, lastSuccessAt: null };
      this.states.set(name, state);
    }
    return state;
  }
}
