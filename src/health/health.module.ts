import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ProvidersModule } from '../providers/providers.module';
import { GatewayHealthIndicators } from './gateway.health';
import { HealthController } from './health.controller';
import { LifecycleState } from './lifecycle.state';
import { RootController } from './root.controller';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), ProvidersModule],
  controllers: [HealthController, RootController],
  providers: [GatewayHealthIndicators, LifecycleState],
  exports: [LifecycleState],
})
export class HealthModule {}
