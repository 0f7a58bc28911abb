import { Injectable } from '@nestjs/common';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { TokenUsage } from '../messages/token-usage';

const MISNAMED_DEFAULT_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const TTFB_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];

/** The gateway's Prometheus metrics (the names and labels dashboards depend on), registered once in a registry of their own. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'balancer_requests_total',
    help: 'Client requests answered, by the provider that answered (or "none"), model, status and client.',
    labelNames: ['provider', 'model', 'status', 'client'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'balancer_request_duration_seconds',
    help: 'Time from receiving a request to the end of its response, streams included.',
    labelNames: ['provider', 'stream'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly timeToFirstByte = new Histogram({
    name: 'balancer_time_to_first_byte_seconds',
    help: 'Time from receiving a request to the first response byte sent to the client.',
    labelNames: ['provider'] as const,
    buckets: TTFB_BUCKETS,
    registers: [this.registry],
  });

  readonly upstreamAttempts = new Counter({
    name: 'balancer_upstream_attempts_total',
    help: 'Upstream attempts by provider and outcome ("success" or the failure reason).',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly failovers = new Counter({
    name: 'balancer_failovers_total',
    help: 'Moves from one provider to the next inside a single client request.',
    labelNames: ['from', 'to'] as const,
    registers: [this.registry],
  });

  readonly providerHealthy = new Gauge({
    name: 'balancer_provider_healthy',
    help: '1 while a provider is usable, 0 while it is cooling down.',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: 'balancer_tokens_total',
    help: 'Tokens reported by upstream usage, by type (input, output, cache_read, cache_creation).',
    labelNames: ['provider', 'model', 'client', 'type'] as const,
    registers: [this.registry],
  });

  readonly clientLimited = new Counter({
    name: 'balancer_client_limited_total',
    help: 'Requests refused because their client was over a limit (rpm, concurrency, daily_tokens, daily_cost).',
    labelNames: ['client', 'limit'] as const,
    registers: [this.registry],
  });

  readonly costUsd = new Counter({
    name: 'balancer_cost_usd_total',
    help: 'USD the upstream calls cost, priced from the catalogue or settings.usage.prices (subscription traffic at API prices).',
    labelNames: ['client', 'model'] as const,
    registers: [this.registry],
  });

  readonly dedupHits = new Counter({
    name: 'balancer_dedup_hits_total',
    help: 'Requests answered from an identical in-flight request or from the replay cache.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly inflight = new Gauge({
    name: 'balancer_inflight_requests',
    help: 'Client requests being served right now.',
    registers: [this.registry],
  });

  readonly protocolErrors = new Counter({
    name: 'balancer_client_protocol_errors_total',
    help: 'Connections closed before a request existed: bad HTTP, headers too large, or too slow to arrive.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly oauthTokenExpiry = new Gauge({
    name: 'balancer_oauth_token_expiry_seconds',
    help: 'Seconds until each stored OAuth account token expires.',
    labelNames: ['account'] as const,
    registers: [this.registry],
  });

  readonly oauthRefreshes = new Counter({
    name: 'balancer_oauth_refreshes_total',
    help: 'OAuth token refreshes by account and outcome (success, invalid_grant, rate_limited, error).',
    labelNames: ['account', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly accountWindowUtilization = new Gauge({
    name: 'balancer_account_window_utilization',
    help: "A Claude account's usage window (5h, 7d) as a fraction, from the unified rate-limit headers.",
    labelNames: ['account', 'window'] as const,
    registers: [this.registry],
  });

  readonly stateBackendUp = new Gauge({
    name: 'balancer_state_backend_up',
    help: '1 while the shared state backend (Redis) answers, 0 while the replica serves on its own state.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // prom-client names these gauges with a counter's _total suffix, which promtool (and Prometheus's naming rules)
    // reject; the event-loop, heap and GC metrics beside them tell the same story.
    for (const misnamed of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(misnamed);
  }

  countTokens(provider: string, model: string, client: string, usage: TokenUsage): void {
    if (usage.input) this.tokens.labels(provider, model, client, 'input').inc(usage.input);
    if (usage.output) this.tokens.labels(provider, model, client, 'output').inc(usage.output);
    if (usage.cacheRead) this.tokens.labels(provider, model, client, 'cache_read').inc(usage.cacheRead);
    if (usage.cacheCreation) this.tokens.labels(provider, model, client, 'cache_creation').inc(usage.cacheCreation);
  }

  forgetProvider(provider: string): void {
    this.providerHealthy.remove(provider);
  }
}
