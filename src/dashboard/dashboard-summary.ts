import { Injectable } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import type { ClientConfig } from '../config/gateway-config';
import { DedupStore } from '../dedup/dedup.store';
import { LIVE_WINDOW_SECONDS, LiveTraffic } from '../metrics/live-traffic';
import { MetricsService } from '../metrics/metrics.service';
import { StateConnection } from '../state/redis/state-connection';
import { addCounts, billed, emptyCounts, tokensOf, UsageStore, utcDay, type UsageCounts } from '../usage/usage.store';
import { VERSION } from '../version';

const DAY_MS = 86_400_000;
const STARTED_AT = Date.now();

/**
 * What the dashboard shows beyond /providers and /oauth/status: this replica's live traffic, each teammate's usage
 * today and yesterday against their limits, and what deduplication saved. Names and numbers only, never a key.
 */
@Injectable()
export class DashboardSummary {
  constructor(
    private readonly active: ActiveConfig,
    private readonly metrics: MetricsService,
    private readonly traffic: LiveTraffic,
    private readonly usage: UsageStore,
    private readonly dedup: DedupStore,
    private readonly state: StateConnection,
  ) {}

  async build(now = Date.now()) {
    const [teammates, dedup, inFlight] = await Promise.all([
      this.teammates(now),
      this.dedupSavings(),
      this.metrics.inflight.get(),
    ]);
    const backend = this.state.backend;
    return {
      generated_at: new Date(now).toISOString(),
      replica: {
        version: VERSION,
        started_at: new Date(STARTED_AT).toISOString(),
        in_flight: inFlight.values[0]?.value ?? 0,
        state_backend: backend ? 'redis' : 'memory',
        state_backend_up: backend ? backend.isUp : true,
      },
      traffic: {
        window_seconds: LIVE_WINDOW_SECONDS,
        providers: this.traffic.snapshot(now).map((t) => ({
          provider: t.provider,
          requests: t.requests,
          failed: t.failed,
          rejected: t.rejected,
          per_second: t.perSecond,
          ttfb_p50_ms: t.ttfbP50Ms,
          ttfb_p95_ms: t.ttfbP95Ms,
        })),
      },
      teammates,
      dedup,
    };
  }

  private async teammates(now: number) {
    const today = utcDay(now);
    const yesterday = utcDay(now - DAY_MS);
    const [rows, refusals] = await Promise.all([
      this.usage.rows({ from: yesterday, to: today }),
      this.metrics.clientLimited.get(),
    ]);
    const byClient = new Map<string, { today: UsageCounts; yesterday: UsageCounts }>();
    const spendOf = (client: string) => {
      let spend = byClient.get(client);
      if (!spend) {
        spend = { today: emptyCounts(), yesterday: emptyCounts() };
        byClient.set(client, spend);
      }
      return spend;
    };
    const clients = this.active.runtime.config.clients;
    for (const client of clients) spendOf(client.name);
    for (const row of rows) addCounts(spendOf(row.client)[row.day === today ? 'today' : 'yesterday'], row.counts);
    const refused = new Map<string, Record<string, number>>();
    for (const { labels, value } of refusals.values) {
      const client = String(labels.client);
      refused.set(client, { ...refused.get(client), [String(labels.limit)]: value });
    }
    return [...byClient]
      .map(([name, spend]) => {
        const client = clients.find((c) => c.name === name);
        return {
          client: name,
          configured: client !== undefined,
          limits: limitsOf(client),
          today: spendSummary(spend.today),
          yesterday: spendSummary(spend.yesterday),
          refused_by_limit: refused.get(name) ?? {},
        };
      })
      .sort((a, b) => a.client.localeCompare(b.client));
  }

  private async dedupSavings() {
    const [hits, stats] = await Promise.all([this.metrics.dedupHits.get(), this.dedup.stats()]);
    const byKind: Record<string, number> = {};
    for (const { labels, value } of hits.values) byKind[String(labels.kind)] = value;
    return {
      enabled: this.active.runtime.config.settings.deduplication.enabled,
      hits: byKind,
      calls_in_flight: stats.inflight,
      cached_answers: stats.cached,
      cached_bytes: stats.cachedBytes,
    };
  }
}

/** A client's limits, null where it has none. */
function limitsOf(client: ClientConfig | undefined) {
  const limit = (value: number | undefined) => (value !== undefined && value > 0 ? value : null);
  return {
    rpm: limit(client?.rpm),
    max_concurrency: limit(client?.maxConcurrency),
    daily_tokens: limit(client?.dailyTokenBudget),
    daily_cost_usd: limit(client?.dailyCostBudget),
  };
}

function spendSummary(counts: UsageCounts) {
  return {
    requests: counts.requests,
    tokens: tokensOf(counts),
    input_tokens: counts.inputTokens,
    output_tokens: counts.outputTokens,
    cost_usd: round(counts.costUsd),
    billed_usd: round(billed(counts)),
  };
}

function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
