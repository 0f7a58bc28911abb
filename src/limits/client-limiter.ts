import { randomUUID } from 'node:crypto';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { GatewayError } from '../common/gateway-error';
import type { ClientConfig } from '../config/gateway-config';
import { MetricsService } from '../metrics/metrics.service';
import type { RequestContext } from '../request/request-context';
import { UsageStore, utcDay } from '../usage/usage.store';
import { LimitStore } from './limit.store';

const MINUTE_MS = 60_000;
/** A concurrency slot lives this long unless its replica renews it: a replica that dies frees its slots by then. */
export const SLOT_TTL_MS = 30_000;
const RENEW_EVERY_MS = 10_000;

type Limit = 'rpm' | 'concurrency' | 'daily_tokens' | 'daily_cost';

/**
 * Checks a client's limits before its request is routed: the daily budgets (from the usage store), requests per
 * rolling minute, then a concurrency slot that is given back however the request ends. Over a limit, the request
 * gets a 429 that names the limit and when it resets; Claude Code retries rpm and concurrency refusals by itself
 * (`x-should-retry: true`) and shows an exhausted budget at once (`false`).
 */
@Injectable()
export class ClientLimiter implements OnApplicationShutdown {
  private readonly held = new Map<string, Set<string>>();
  private renewal: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: LimitStore,
    private readonly usage: UsageStore,
    private readonly metrics: MetricsService,
  ) {}

  async admit(context: RequestContext, now = Date.now()): Promise<void> {
    const client = context.client;
    if (!client || !hasLimits(client)) return;
    await this.checkBudgets(client, now);
    if (client.rpm > 0) {
      const decision = await this.limits.hit(client.name, client.rpm, MINUTE_MS);
      if (!decision.allowed) {
        const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        this.refuse(
          client,
          'rpm',
          seconds,
          true,
          `Client ${client.name} is over its limit of ${client.rpm} requests per minute; the next request is let through in ${seconds} s.`,
        );
      }
    }
    if (client.maxConcurrency > 0) {
      const slot = randomUUID();
      if (!(await this.limits.acquire(client.name, slot, client.maxConcurrency, SLOT_TTL_MS))) {
        this.refuse(
          client,
          'concurrency',
          1,
          true,
          `Client ${client.name} already has ${client.maxConcurrency} requests in flight (max_concurrency); retry when one finishes.`,
        );
      }
      this.hold(client.name, slot);
      context.onFinish(() => this.giveBack(client.name, slot));
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.renewal);
  }

  private async checkBudgets(client: ClientConfig, now: number): Promise<void> {
    if (client.dailyTokenBudget <= 0 && client.dailyCostBudget <= 0) return;
    const spent = await this.usage.dayTotals(client.name, utcDay(now));
    const untilTomorrow = secondsToNextUtcDay(now);
    const resets = `it resets at 00:00 UTC, in ${describeDuration(untilTomorrow)}`;
    if (client.dailyTokenBudget > 0 && spent.tokens >= client.dailyTokenBudget) {
      this.refuse(
        client,
        'daily_tokens',
        untilTomorrow,
        false,
        `Client ${client.name} has used its daily token budget (${spent.tokens} of ${client.dailyTokenBudget} tokens today); ${resets}.`,
      );
    }
    if (client.dailyCostBudget > 0 && spent.costUsd >= client.dailyCostBudget) {
      this.refuse(
        client,
        'daily_cost',
        untilTomorrow,
        false,
        `Client ${client.name} has used its daily cost budget ($${spent.costUsd.toFixed(2)} of $${client.dailyCostBudget} today); ${resets}.`,
      );
    }
  }

  private refuse(client: ClientConfig, limit: Limit, retryAfter: number, retry: boolean, message: string): never {
    this.metrics.clientLimited.labels(client.name, limit).inc();
    throw new GatewayError(429, 'rate_limit_error', message, {
      'retry-after': String(retryAfter),
      'x-should-retry': String(retry),
    });
  }

  private hold(client: string, slot: string): void {
    let slots = this.held.get(client);
    if (!slots) {
      slots = new Set();
      this.held.set(client, slots);
    }
    slots.add(slot);
    if (!this.renewal) {
      this.renewal = setInterval(() => void this.renewAll(), RENEW_EVERY_MS);
      this.renewal.unref();
    }
  }

  private giveBack(client: string, slot: string): void {
    const slots = this.held.get(client);
    slots?.delete(slot);
    if (slots?.size === 0) this.held.delete(client);
    void this.limits.release(client, slot);
  }

  private async renewAll(): Promise<void> {
    await Promise.all([...this.held].map(([client, slots]) => this.limits.renew(client, [...slots], SLOT_TTL_MS)));
  }
}

export function hasLimits(client: ClientConfig): boolean {
  return client.rpm > 0 || client.maxConcurrency > 0 || client.dailyTokenBudget > 0 || client.dailyCostBudget > 0;
}

export function secondsToNextUtcDay(now: number): number {
  const tomorrow = new Date(now);
  tomorrow.setUTCHours(24, 0, 0, 0);
  return Math.max(1, Math.ceil((tomorrow.getTime() - now) / 1000));
}

function describeDuration(seconds: number): string {
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.ceil((seconds % 3600) / 60);
  return hours > 0 ? `${hours} h ${minutes} min` : `${minutes} min`;
}
