import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import { AnthropicExceptionFilter } from './common/anthropic-exception.filter';
import type { ConfigSource } from './config/config-source';
import { GatewayConfigModule } from './config/gateway-config.module';
import { DashboardModule } from './dashboard/dashboard.module';
import { HealthModule } from './health/health.module';
import { loggerParams } from './logging/logger-options';
import { MessagesModule } from './messages/messages.module';
import { MetricsModule } from './metrics/metrics.module';
import { ProvidersModule } from './providers/providers.module';
import { RequestModule } from './request/request.module';
import { StateModule } from './state/state.module';

@Module({})
export class AppModule {
  static forRoot(source: ConfigSource, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        GatewayConfigModule.forRoot(source),
        LoggerModule.forRoot(loggerParams(logger)),
        ScheduleModule.forRoot(),
        RequestModule.forRoot(logger),
        StateModule,
        MetricsModule,
        ProvidersModule,
        MessagesModule,
        HealthModule,
        DashboardModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: AnthropicExceptionFilter }],
    };
  }
}
