import { Global, Module } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import { DedupStore } from '../dedup/dedup.store';
import { InMemoryDedupStore } from '../dedup/in-memory-dedup.store';
import { HealthStore } from './health.store';
import { InMemoryHealthStore } from './in-memory-health.store';
import { InMemorySelectionStore } from './in-memory-selection.store';
import { SelectionStore } from './selection.store';

/**
 * Where the state that outlives a request lives: provider health and cooldowns, sticky choices and rotation turns,
 * and the dedup registry. Every store is an abstract class used as the DI token; this module picks the backend from
 * settings.state.backend. This version keeps all of them in the process (a redis backend is named at startup as not
 * acted on).
 */
@Global()
@Module({
  providers: [
    { provide: HealthStore, useFactory: () => new InMemoryHealthStore() },
    { provide: SelectionStore, useFactory: () => new InMemorySelectionStore() },
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
  ],
  exports: [HealthStore, SelectionStore, DedupStore],
})
export class StateModule {}
