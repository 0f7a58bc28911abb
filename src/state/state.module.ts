import { Global, Module } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import { DedupStore } from '../dedup/dedup.store';
import { InMemoryDedupStore } from '../dedup/in-memory-dedup.store';
import { HealthStore } from './health.store';
import { InMemoryHealthStore } from './in-memory-health.store';
import { InMemorySelectionStore } from './in-memory-selection.store';
import { SelectionStore } from './selection.store';
import { AccountStateStore, InMemoryAccountStateStore } from '../oauth/account-state.store';
import { FileTokenStore } from '../oauth/file-token.store';
import { InMemoryTokenStore } from '../oauth/in-memory-token.store';
import { InMemoryLoginSessionStore, LoginSessionStore } from '../oauth/login-session.store';
import { TokenStore } from '../oauth/token.store';
import { MetricsModule } from '../metrics/metrics.module';
import { MetricsService } from '../metrics/metrics.service';
import { RedisHealthStore } from './redis/redis-health.store';
import { RedisSelectionStore } from './redis/redis-selection.store';
import { StateConnection } from './redis/state-connection';

/**
 * Where the state that outlives a request lives: provider health and cooldowns, sticky choices and rotation turns,
 * the dedup registry, and Claude accounts (their tokens, their health, pending logins). Every store is an abstract
 * class used as the DI token; this module picks the backend from settings.state.backend. With redis, provider health
 * and sticky choices are shared by every replica; the rest is still kept per process (named at startup), and account
 * tokens go to settings.oauth.token_store.
 */
@Global()
@Module({
  imports: [MetricsModule],
  providers: [
    {
      provide: StateConnection,
      inject: [ActiveConfig, MetricsService],
      useFactory: async (active: ActiveConfig, metrics: MetricsService) => {
        const connection = new StateConnection(active, metrics);
        await connection.connect();
        return connection;
      },
    },
    {
      provide: HealthStore,
      inject: [StateConnection],
      useFactory: async ({ backend }: StateConnection) => {
        if (!backend) return new InMemoryHealthStore();
        const store = new RedisHealthStore(backend);
        await store.open();
        return store;
      },
    },
    {
      provide: SelectionStore,
      inject: [StateConnection],
      useFactory: ({ backend }: StateConnection) =>
        backend ? new RedisSelectionStore(backend) : new InMemorySelectionStore(),
    },
    {
      provide: TokenStore,
      inject: [ActiveConfig],
      // Opened before the app serves: a corrupt store stops startup instead of being overwritten.
      useFactory: async (active: ActiveConfig) => {
        const path = active.runtime.config.settings.oauth.tokenStore;
        const store = path ? new FileTokenStore(path) : new InMemoryTokenStore();
        await store.open();
        return store;
      },
    },
    { provide: AccountStateStore, useFactory: () => new InMemoryAccountStateStore() },
    { provide: LoginSessionStore, useFactory: () => new InMemoryLoginSessionStore() },
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
  exports: [StateConnection, HealthStore, SelectionStore, DedupStore, TokenStore, AccountStateStore, LoginSessionStore],
})
export class StateModule {}
