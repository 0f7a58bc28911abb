import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { ClientLimitInterceptor } from './client-limit.interceptor';
import { ClientLimiter } from './client-limiter';

@Module({
  imports: [MetricsModule],
  providers: [ClientLimiter, ClientLimitInterceptor],
  exports: [ClientLimiter, ClientLimitInterceptor],
})
export class LimitsModule {}
