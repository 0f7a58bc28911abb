import { ACCOUNT_SESSION_STICKY_MS } from '../oauth/account.service';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import type { GatewayConfig, ProviderConfig } from '../config/gateway-config';
import type { GatewayRuntime } from '../config/gateway-runtime';
import { startupOnlyChanges } from '../config/startup-only-settings';
import { MetricsService } from '../metrics/metrics.service';
import { CandidateSelector, type SelectionPlan } from '../routing/candidate-selector';
import { HealthStore } from '../state/health.store';
import { SelectionStore } from '../state/selection.store';
import { UpstreamDispatchers } from './upstream-dispatchers';

export interface ReloadSummary {
  readonly status: 'reloaded';
  readonly config_path: string;
  readonly providers_count: number;
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
  readonly routes: string[];
  /** Settings in the new file that this version does not act on. */
  readonly warnings: string[];
}

/** Owns the config in force and what is built from it: the upstream pools and the candidate selector. */
@Injectable()
export class ProvidersService implements OnApplicationShutdown {
  private readonly logger = new Logger('Providers');
  readonly selector: CandidateSelector;
  readonly dispatchers = new UpstreamDispatchers();

  constructor(
    private readonly active: ActiveConfig,
    private readonly metrics: MetricsService,
    readonly health: HealthStore,
    private readonly selection: SelectionStore,
  ) {
    this.selector = new CandidateSelector(health, selection);
    this.apply(active.runtime.config);
  }

  get runtime(): GatewayRuntime {
    return this.active.runtime;
  }

  /** Reads the config file again; an invalid file throws and leaves the running config untouched. */
  reload(): ReloadSummary {
    const runtime = this.active.loadNext();
    const next = runtime.config;
    const previous = this.active.swap(runtime);
    this.apply(next);
    const before = new Map(previous.providers.map((p) => [p.name, p]));
    const after = new Map(next.providers.map((p) => [p.name, p]));
    const summary: ReloadSummary = {
      status: 'reloaded',
      config_path: next.sourcePath,
      providers_count: next.providers.length,
      added: [...after.keys()].filter((name) => !before.has(name)),
      removed: [...before.keys()].filter((name) => !after.has(name)),
      changed: [...after.keys()].filter((name) => before.has(name) && !sameProvider(before.get(name), after.get(name))),
      routes: next.routes.map((r) => r.pattern),
      warnings: startupOnlyChanges(previous, next),
    };
    for (const warning of summary.warnings) this.logger.warn(warning);
    for (const name of summary.removed) this.metrics.forgetProvider(name);
    this.logger.log(
      `Config reloaded from ${next.sourcePath}: ${summary.providers_count} providers` +
        ` (added ${summary.added.length}, removed ${summary.removed.length}, changed ${summary.changed.length})`,
    );
    return summary;
  }

  /** The candidates for a model under the given config snapshot (the one the request started with). */
  plan(runtime: GatewayRuntime, model: string, sessionId?: string, dryRun = false): Promise<SelectionPlan> {
    return this.selector.plan(runtime.routes, runtime.config.settings, { model, sessionId, dryRun });
  }

  /** Called by the scheduled job: ends cooldowns that ran out and trims old sticky entries. */
  async expireCooldowns(): Promise<string[]> {
    const recovered = await this.health.expireCooldowns();
    for (const name of recovered) {
      this.metrics.providerHealthy.labels(name).set(1);
      this.logger.log(`Provider ${name} is back from cooldown`);
    }
    // Account choices per session are kept for an hour, whatever the provider stickiness.
    const stickySeconds = Math.max(this.runtime.config.settings.stickyProviderSeconds, 1);
    await this.selection.sweep(Math.max(stickySeconds * 1000, ACCOUNT_SESSION_STICKY_MS));
    return recovered;
  }

  /** Health is kept only for providers in the config in force; a request still on an older config may name others. */
  isCurrent(provider: string): boolean {
    return this.runtime.config.providers.some((p) => p.name === provider);
  }

  usableProviders(): ProviderConfig[] {
    return this.runtime.config.providers.filter((p) => p.enabled && this.health.isUsable(p.name));
  }

  /** After the HTTP server has stopped and drained, so no request is routed to a closed pool during shutdown. */
  async onApplicationShutdown(): Promise<void> {
    await this.dispatchers.closeAll();
  }

  private apply(config: GatewayConfig): void {
    this.dispatchers.apply(config.providers, config.settings.timeouts);
    void this.health.retainOnly(new Set(config.providers.map((p) => p.name)));
    for (const provider of config.providers) {
      this.metrics.providerHealthy.labels(provider.name).set(this.health.isUsable(provider.name) ? 1 : 0);
    }
  }
}

function sameProvider(a: ProviderConfig | undefined, b: ProviderConfig | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
