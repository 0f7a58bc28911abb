import { Controller, Get, HttpException, Res } from '@nestjs/common';
import { HealthCheck, type HealthCheckResult, HealthCheckService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { GatewayHealthIndicators } from './gateway.health';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: GatewayHealthIndicators,
  ) {}

  /**
   * Readiness: at least one enabled provider usable and not draining, in Terminus's own body shape. The state
   * backend is shown in the details but never fails readiness: a replica whose Redis is away still serves.
   */
  @Get()
  @HealthCheck()
  async readiness(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult | string | object> {
    const state = this.indicators.stateBackend();
    try {
      const result = await this.health.check([
        () => this.indicators.accepting(),
        () => this.indicators.providersUsable(),
      ]);
      return withState(result, state);
    } catch (error) {
      if (!(error instanceof HttpException)) throw error;
      void reply.code(error.getStatus());
      const body = error.getResponse();
      return typeof body === 'object' ? withState(body as HealthCheckResult, state) : body;
    }
  }

  @Get('live')
  liveness() {
    return { status: 'ok' };
  }
}

function withState(result: HealthCheckResult, state: HealthIndicatorResult): HealthCheckResult {
  const up = state.state?.status === 'up';
  return {
    ...result,
    info: up ? { ...result.info, ...state } : result.info,
    details: { ...result.details, ...state },
  };
}
