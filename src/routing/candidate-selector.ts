import type { ProviderConfig, Settings } from '../config/gateway-config';
import type { HealthStore } from '../state/health.store';
import type { SelectionStore } from '../state/selection.store';
import type { CompiledRoute, RouteCandidate, RouteTable } from './route-table';

export interface SelectionRequest {
  readonly model: string;
  /** Claude Code's session id, when the request carries one: rotating strategies stick per session. */
  readonly sessionId?: string;
  /** Plan without moving round-robin counters (dry runs, count_tokens). */
  readonly dryRun?: boolean;
}

export interface PlannedAttempt {
  readonly provider: ProviderConfig;
  readonly upstreamModel: string;
  readonly route: string;
}

export interface CandidateVerdict {
  readonly route: string;
  readonly provider: string;
  readonly model: string;
  readonly priority: number;
  readonly eligible: boolean;
  readonly reason: string;
}

export interface SelectionPlan {
  /** The route whose candidates will be tried; null when no route matches the model. */
  readonly route: string | null;
  readonly attempts: readonly PlannedAttempt[];
  /** Every candidate of every matching route, with why it is or is not eligible (for the dry-run endpoint and 503s). */
  readonly verdicts: readonly CandidateVerdict[];
}

type SelectionSettings = Pick<Settings, 'selectionStrategy' | 'stickyProviderSeconds'>;

/**
 * Orders the candidates for one request: the route for its model (falling through to the next matching pattern when
 * none of a route's candidates is usable), the strategy's pick first, the rest in priority order, and a sticky
 * provider ahead of all when one holds.
 */
export class CandidateSelector {
  constructor(
    private readonly health: HealthStore,
    private readonly state: SelectionStore,
    private readonly random: () => number = Math.random,
  ) {}

  async plan(table: RouteTable, settings: SelectionSettings, request: SelectionRequest): Promise<SelectionPlan> {
    const routes = table.matching(request.model);
    const verdicts: CandidateVerdict[] = [];
    let chosen: { route: CompiledRoute; usable: RouteCandidate[] } | undefined;
    for (const route of routes) {
      const usable: RouteCandidate[] = [];
      for (const candidate of route.candidates) {
        const reason = this.ineligibility(candidate);
        const eligible = reason === undefined && chosen === undefined;
        if (eligible) usable.push(candidate);
        verdicts.push({
          route: route.pattern,
          provider: candidate.provider.name,
          model: this.upstreamModel(candidate, request.model),
          priority: candidate.priority,
          eligible,
          reason: reason ?? (chosen ? `an earlier route (${chosen.route.pattern}) is used` : 'eligible'),
        });
      }
      if (!chosen && usable.length > 0) chosen = { route, usable };
    }
    if (!chosen) return { route: routes[0]?.pattern ?? null, attempts: [], verdicts };
    const ordered = await this.order(chosen.route.pattern, chosen.usable, settings, request);
    return {
      route: chosen.route.pattern,
      attempts: ordered.map((candidate) => ({
        provider: candidate.provider,
        upstreamModel: this.upstreamModel(candidate, request.model),
        route: chosen.route.pattern,
      })),
      verdicts,
    };
  }

  /** Remembers the provider that answered, for sticky_provider_duration. */
  async recordSuccess(
    route: string,
    sessionId: string | undefined,
    provider: string,
    settings: SelectionSettings,
  ): Promise<void> {
    const key = stickyKey(route, sessionId, settings.selectionStrategy);
    if (settings.stickyProviderSeconds > 0 && key !== undefined) await this.state.stick(key, provider);
  }

  private ineligibility(candidate: RouteCandidate): string | undefined {
    if (!candidate.enabled) return 'disabled';
    if (!this.health.isUsable(candidate.provider.name)) {
      const snapshot = this.health.snapshot(candidate.provider.name);
      const until = snapshot.cooldownUntil ? new Date(snapshot.cooldownUntil).toISOString() : 'now';
      return `cooling down until ${until} after: ${snapshot.lastError ?? 'failures'}`;
    }
    return undefined;
  }

  private upstreamModel(candidate: RouteCandidate, requested: string): string {
    return candidate.model === 'passthrough' ? requested : candidate.model;
  }

  private async order(
    route: string,
    usable: RouteCandidate[],
    settings: SelectionSettings,
    request: SelectionRequest,
  ): Promise<RouteCandidate[]> {
    const head = await this.pickHead(route, usable, settings.selectionStrategy, request.dryRun === true);
    const ordered = head ? [head, ...usable.filter((c) => c !== head)] : usable;
    const key = stickyKey(route, request.sessionId, settings.selectionStrategy);
    const sticky =
      key !== undefined && settings.stickyProviderSeconds > 0
        ? await this.state.stickyChoice(key, settings.stickyProviderSeconds * 1000)
        : undefined;
    const pinned = sticky !== undefined ? ordered.find((c) => c.provider.name === sticky) : undefined;
    return pinned ? [pinned, ...ordered.filter((c) => c !== pinned)] : ordered;
  }

  private async pickHead(
    route: string,
    usable: RouteCandidate[],
    strategy: SelectionSettings['selectionStrategy'],
    dryRun: boolean,
  ): Promise<RouteCandidate | undefined> {
    switch (strategy) {
      case 'priority':
        return undefined;
      case 'round_robin':
        return usable[(await (dryRun ? this.state.peekTurn(route) : this.state.nextTurn(route))) % usable.length];
      case 'random':
        return usable[Math.floor(this.random() * usable.length)];
      case 'weighted': {
        const total = usable.reduce((sum, c) => sum + c.weight, 0);
        if (total <= 0) return undefined;
        let point = this.random() * total;
        for (const candidate of usable) {
          point -= candidate.weight;
          if (point < 0) return candidate;
        }
        return usable[usable.length - 1];
      }
    }
  }
}

/**
 * Priority routing sticks per route (after a failover the route stays on the provider that answered). Rotating
 * strategies stick only within a session, so that one conversation keeps its prompt cache while different
 * conversations are spread; without a session id they rotate on every request.
 */
function stickyKey(route: string, sessionId: string | undefined, strategy: SelectionSettings['selectionStrategy']) {
  if (strategy === 'priority') return route;
  return sessionId ? `${route}\u0000${sessionId}` : undefined;
}
