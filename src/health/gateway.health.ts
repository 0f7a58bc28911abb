import { Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { StateConnection } from '../state/redis/state-connection';
import { ProvidersService } from '../providers/providers.service';
import { LifecycleState } from './lifecycle.state';

@Injectable()
export class GatewayHealthIndicators {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly providers: ProvidersService,
    private readonly lifecycle: LifecycleState,
    private readonly connection: StateConnection,
  ) {}

  providersUsable() {
    const check = this.indicators.check('providers');
    const enabled = this.providers.runtime.config.providers.filter((p) => p.enabled).length;
    const usable = this.providers.usableProviders().map((p) => p.name);
    const data = { usable: usable.length, enabled, names: usable };
    return usable.length > 0 ? check.up(data) : check.down({ ...data, message: 'no enabled provider is usable' });
  }

  /** Shown, never failing readiness: a replica whose Redis is away keeps serving on its own state. */
  stateBackend(): HealthIndicatorResult {
    const backend = this.providers.runtime.config.settings.state.backend;
    const up = this.connection.backend?.isUp ?? true;
    return { state: { status: up ? 'up' : 'down', backend } };
  }

  accepting() {
    const check = this.indicators.check('lifecycle');
    return this.lifecycle.draining ? check.down({ message: 'shutting down' }) : check.up();
  }
}
