import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module';
import { DedupSweepJob } from './dedup-sweep.job';
import { DedupInterceptor } from './dedup.interceptor';

@Module({
  imports: [MetricsModule],
  providers: [DedupInterceptor, DedupSweepJob],
  exports: [DedupInterceptor],
})
export class DedupModule {}
