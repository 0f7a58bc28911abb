import { BadRequestException, Controller, Get, HttpCode, Post, Query, UseGuards } from '@nestjs/common';
import { AdminGuard } from '../auth/admin.guard';
import { GatewayError } from '../common/gateway-error';
import { ConfigError } from '../config/config-loader';
import { withoutCredentials } from '../common/url-credentials';
import type { ProviderConfig } from '../config/gateway-config';
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
      if (p.authType === 'oauth') accountsOf.set(p.name, await this.accountRows(p, '*'));
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
  async route(@Query('model') model?: string) {
    if (!model) throw new BadRequestException('Give the model to route: /providers/route?model=NAME');
    const plan = await this.providers.plan(this.providers.runtime, model, undefined, true);
    const candidates = await Promise.all(
      plan.verdicts.map(async (verdict) => {
        const provider = this.providers.runtime.config.providers.find((p) => p.name === verdict.provider);
        if (provider?.authType !== 'oauth') return verdict;
        return { ...verdict, accounts: await this.accountRows(provider, model) };
      }),
    );
    return {
      model,
      route: plan.route,
      order: plan.attempts.map((a) => ({ provider: a.provider.name, model: a.upstreamModel })),
      candidates,
    };
  }

  /** A subscription provider's accounts, each with whether it could serve `model` now and why not. */
  private async accountRows(provider: ProviderConfig, model: string) {
    const records = await this.accounts.candidates(provider, {});
    return records.map((record) => {
      const why = this.accounts.ineligibility(record, model);
      return { email: record.email, eligible: why === undefined, reason: why ?? null };
    });
  }
}
