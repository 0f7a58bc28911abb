import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ActiveConfig } from '../../config/active-config';
import { MetricsService } from '../../metrics/metrics.service';
import { StateBackend } from './state-backend';

/**
 * The process's connection to the shared state backend, when settings.state.backend is redis: opened once at startup
 * (a Redis that does not answer yet is no reason not to serve), reported by `balancer_state_backend_up` and /health,
 * and closed after the drain.
 */
@Injectable()
export class StateConnection implements OnApplicationShutdown {
  readonly backend: StateBackend | undefined;

  constructor(active: ActiveConfig, metrics: MetricsService) {
    const { state } = active.runtime.config.settings;
    if (state.backend !== 'redis') return;
    metrics.stateBackendUp.set(0);
    this.backend = new StateBackend(state.redisUrl, state.keyPrefix, (up) => metrics.stateBackendUp.set(up ? 1 : 0));
  }

  async connect(): Promise<void> {
    await this.backend?.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.backend?.close();
  }
}
