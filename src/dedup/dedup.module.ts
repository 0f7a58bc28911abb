import { Module } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import { MetricsModule } from '../metrics/metrics.module';
import { DedupSweepJob } from './dedup-sweep.job';
import { DedupInterceptor } from './dedup.interceptor';
import { DedupStore } from './dedup.store';
import { InMemoryDedupStore } from './in-memory-dedup.store';

@Module({
  imports: [MetricsModule],
  providers: [
    {
      provide: DedupStore,
      inject: [ActiveConfig],
      useFactory: (active: ActiveConfig) =>
        new InMemoryDedupStore(() => {
          const dedup = active.runtime.config.settings.deduplication;
          return {
            ttlMs: dedup.cacheTtlSeconds * 1000,
            maxEntries: dedup.cacheSizeLimit,
            maxBytes: dedup.cacheMaxBytes,
          };
        }),
    },
    DedupInterceptor,
    DedupSweepJob,
  ],
  exports: [DedupStore, DedupInterceptor],
})
export class DedupModule {}
