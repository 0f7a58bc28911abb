import { Controller, Get, HttpException, Res } from '@nestjs/common';
import { HealthCheck, type HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { GatewayHealthIndicators } from './gateway.health';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: GatewayHealthIndicators,
  ) {}

  /** Readiness: at least one enabled provider usable and the state backend answering. Terminus's own body shape. */
  @Get()
  @HealthCheck()
  async readiness(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult | string | object> {
    try {
      return await this.health.check([
        () => this.indicators.accepting(),
        () => this.indicators.providersUsable(),
        () => this.indicators.stateBackend(),
      ]);
    } catch (error) {
      if (!(error instanceof HttpException)) throw error;
      void reply.code(error.getStatus());
      return error.getResponse();
    }
  }

  @Get('live')
  liveness() {
    return { status: 'ok' };
  }
}
