import { type FailureOutcome, type HealthSettings, HealthStore, type ProviderHealthSnapshot } from './health.store';

interface HealthState {
  failureCount: number;
  cooldownUntil: number;
  lastError: string | null;
  lastFailureAt: number | null;
  lastSuccessAt: number | null;
}

/** Provider health for one process. */
export class InMemoryHealthStore extends HealthStore {
  private readonly states = new Map<string, HealthState>();

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  isUsable(name: string): boolean {
    const state = this.states.get(name);
    return !state || state.cooldownUntil <= this.now();
  }

  recordFailure(name: string, error: string, settings: HealthSettings, retryAfterMs?: number): Promise<FailureOutcome> {
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
    return Promise.resolve({ enteredCooldown: !wasCooling && until > now, cooldownUntil: until });
  }

  recordSuccess(name: string, settings: HealthSettings): Promise<void> {
    const state = this.stateOf(name);
    state.lastSuccessAt = this.now();
    if (settings.unhealthyResetOnSuccess) {
      state.failureCount = 0;
      state.cooldownUntil = 0;
    }
    return Promise.resolve();
  }

  expireCooldowns(): Promise<string[]> {
    const now = this.now();
    const recovered: string[] = [];
    for (const [name, state] of this.states) {
      if (state.cooldownUntil !== 0 && state.cooldownUntil <= now) {
        state.cooldownUntil = 0;
        state.failureCount = 0;
        recovered.push(name);
      }
    }
    return Promise.resolve(recovered);
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

  retainOnly(names: ReadonlySet<string>): Promise<void> {
    for (const name of this.states.keys()) if (!names.has(name)) this.states.delete(name);
    return Promise.resolve();
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
