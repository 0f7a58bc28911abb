import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { AccessLogger } from '../logging/access-log';
import { MetricsModule } from '../metrics/metrics.module';
import { RequestFinisher } from './request-finisher';

/** The request lifecycle: where every request ends, and the access line it leaves. */
@Global()
@Module({})
export class RequestModule {
  static forRoot(logger: Logger): DynamicModule {
    return {
      module: RequestModule,
      imports: [MetricsModule],
      providers: [{ provide: AccessLogger, useValue: new AccessLogger(logger) }, RequestFinisher],
      exports: [RequestFinisher],
    };
  }
}
