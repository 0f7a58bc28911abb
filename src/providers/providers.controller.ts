import { BadRequestException, Controller, Get, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/admin.guard';
import { GatewayError } from '../common/gateway-error';
import { ConfigError } from '../config/config-loader';
import { withoutCredentials } from '../common/url-credentials';
import type { ClientConfig, ProviderConfig } from '../config/gateway-config';
import { AccountService } from '../oauth/account.service';
import { ProvidersService, type ReloadSummary } from './providers.service';

/** Management: what the gateway is routing to, a dry run of routing, and a reload of the config file. */
@Controller('providers')
@UseGuards(AdminGuard)
export class ProvidersController {
  constructor(
    private readonly providers: ProvidersService,
    private readonly accounts: AccountService,
  ) {}

  @Get()
  async list() {
    const { config, routes } = this.providers.runtime;
    const usedBy = new Map<string, string[]>();
    for (const route of config.routes) {
      for (const candidate of route.candidates) {
        const list = usedBy.get(candidate.provider) ?? [];
        list.push(route.pattern);
        usedBy.set(candidate.provider, list);
      }
    }
    const accountsOf = new Map<string, unknown>();
    for (const p of config.providers) {
      if (p.authType === 'oauth') accountsOf.set(p.name, await this.accountRows(p, '*', undefined));
    }
    const providers = config.providers.map((p) => {
      const health = this.providers.health.snapshot(p.name);
      return {
        name: p.name,
        type: p.type,
        base_url: withoutCredentials(p.baseUrl),
        auth_type: p.authType,
        enabled: p.enabled,
        healthy: p.enabled && health.healthy,
        failure_count: health.failureCount,
        cooldown_until: health.cooldownUntil === null ? null : new Date(health.cooldownUntil).toISOString(),
        last_error: health.lastError === null ? null : this.providers.runtime.scrubber.scrub(health.lastError),
        last_failure_at: health.lastFailureAt === null ? null : new Date(health.lastFailureAt).toISOString(),
        last_success_at: health.lastSuccessAt === null ? null : new Date(health.lastSuccessAt).toISOString(),
        uses_proxy: p.proxy !== undefined,
        routes: [...new Set(usedBy.get(p.name) ?? [])],
        ...(accountsOf.has(p.name) ? { accounts: accountsOf.get(p.name) } : {}),
      };
    });
    return {
      total_providers: providers.length,
      healthy_providers: providers.filter((p) => p.healthy).length,
      selection_strategy: config.settings.selectionStrategy,
      routes: routes.patterns,
      providers,
    };
  }

  @Post('reload')
  @HttpCode(200)
  reload(): ReloadSummary {
    try {
      return this.providers.reload();
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new GatewayError(
          400,
          'invalid_request_error',
          `The config was not reloaded; the running config is unchanged. ${error.message}`,
        );
      }
      throw error;
    }
  }

  @Get('route')
  async route(@Query('model') model?: string, @Query('client') clientName?: string) {
    if (!model) throw new BadRequestException('Give the model to route: /providers/route?model=NAME');
    const { config } = this.providers.runtime;
    const client = clientName === undefined ? undefined : config.clients.find((c) => c.name === clientName);
    if (clientName !== undefined && !client) {
      throw new BadRequestException(`No client is named ${JSON.stringify(clientName)} in clients[]`);
    }
    const plan = await this.providers.plan(this.providers.runtime, model, undefined, true);
    const fair = await this.accounts.fairOrder(plan.attempts, { client, model });
    const candidates = await Promise.all(
      plan.verdicts.map(async (verdict) => {
        const provider = config.providers.find((p) => p.name === verdict.provider);
        if (provider?.authType !== 'oauth') return verdict;
        return { ...verdict, accounts: await this.accountRows(provider, model, client) };
      }),
    );
    return {
      model,
      ...(client ? { client: client.name } : {}),
      route: plan.route,
      order: fair.attempts.map((a) => ({ provider: a.provider.name, model: a.upstreamModel })),
      ...(fair.demoted.length > 0
        ? {
            fair_share: `${client!.name} is past its fair share of every account of ${fair.demoted.join(', ')}: the other candidates are tried first`,
          }
        : {}),
      candidates,
    };
  }

  /** A subscription provider's accounts, each with whether it could serve `model` now and why not. */
  private async accountRows(provider: ProviderConfig, model: string, client: ClientConfig | undefined) {
    const records = await this.accounts.candidates(provider, client ? { client } : {});
    return records.map((record) => {
      const why = this.accounts.ineligibility(record, model);
      const standing = this.accounts.standing(record.email, client);
      return {
        email: record.email,
        eligible: why === undefined,
        reason: why ?? null,
        ...(client && standing.windows.length > 0
          ? {
              fair_share: {
                over: standing.over,
                windows: standing.windows.map((w) => ({
                  window: w.window,
                  utilization: w.utilization,
                  share: round(w.share),
                  fair_share: round(w.fairShare),
                })),
              },
            }
          : {}),
      };
    });
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
