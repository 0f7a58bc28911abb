import { Global, Module } from '@nestjs/common';
import { ActiveConfig } from '../config/active-config';
import { DedupStore } from '../dedup/dedup.store';
import { InMemoryDedupStore } from '../dedup/in-memory-dedup.store';
import { RedisDedupStore } from '../dedup/redis/redis-dedup.store';
import { HealthStore } from './health.store';
import { InMemoryHealthStore } from './in-memory-health.store';
import { InMemorySelectionStore } from './in-memory-selection.store';
import { SelectionStore } from './selection.store';
import { AccountStateStore, InMemoryAccountStateStore } from '../oauth/account-state.store';
import { FileTokenStore } from '../oauth/file-token.store';
import { InMemoryTokenStore } from '../oauth/in-memory-token.store';
import { InMemoryLoginSessionStore, LoginSessionStore } from '../oauth/login-session.store';
import { TokenStore, TokenStoreError } from '../oauth/token.store';
import { LocalRefreshLock, RedisRefreshLock, RefreshLock } from '../oauth/refresh-lock';
import { RedisTokenStore } from '../oauth/redis-token.store';
import { RedisLoginSessionStore } from '../oauth/redis-login-session.store';
import { RedisAccountStateStore } from '../oauth/redis-account-state.store';
import type { GatewayConfig } from '../config/gateway-config';
import type { StateBackend } from './redis/state-backend';
import { MetricsModule } from '../metrics/metrics.module';
import { MetricsService } from '../metrics/metrics.service';
import { RedisHealthStore } from './redis/redis-health.store';
import { RedisSelectionStore } from './redis/redis-selection.store';
import { StateConnection } from './redis/state-connection';
import { UsageStore, utcDay } from '../usage/usage.store';
import { InMemoryUsageStore } from '../usage/in-memory-usage.store';
import { RedisUsageStore } from '../usage/redis-usage.store';
import { InMemoryLimitStore, LimitStore } from '../limits/limit.store';
import { RedisLimitStore } from '../limits/redis-limit.store';
import { AccountShareStore, InMemoryAccountShareStore, RedisAccountShareStore } from '../oauth/account-share.store';

/**
 * Where the state that outlives a request lives: provider health and cooldowns, sticky choices and rotation turns,
 * calls in flight and the replay cache, and Claude accounts (their tokens, their health, pending logins). Every store
 * is an abstract class used as the DI token; this module picks the backend from settings.state.backend. With redis,
 * all of it is shared by every replica; otherwise account tokens go to settings.oauth.token_store.
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
      inject: [ActiveConfig, StateConnection],
      // Opened before the app serves: a corrupt store stops startup instead of being overwritten.
      useFactory: async (active: ActiveConfig, { backend }: StateConnection) => {
        const store = tokenStoreFor(active.runtime.config, backend, process.env.BALANCER_STATE_KEY);
        await store.open();
        return store;
      },
    },
    {
      provide: RefreshLock,
      inject: [StateConnection],
      useFactory: ({ backend }: StateConnection) => (backend ? new RedisRefreshLock(backend) : new LocalRefreshLock()),
    },
    {
      provide: AccountStateStore,
      inject: [StateConnection],
      useFactory: async ({ backend }: StateConnection) => {
        if (!backend) return new InMemoryAccountStateStore();
        const store = new RedisAccountStateStore(backend);
        await store.open();
        return store;
      },
    },
    {
      provide: LoginSessionStore,
      inject: [StateConnection],
      useFactory: ({ backend }: StateConnection) =>
        backend ? new RedisLoginSessionStore(backend) : new InMemoryLoginSessionStore(),
    },
    {
      provide: UsageStore,
      inject: [ActiveConfig, StateConnection],
      // Opened before the app serves, so that today's usage (and the budgets it feeds) is known from the first request.
      useFactory: async (active: ActiveConfig, { backend }: StateConnection) => {
        const usage = () => active.runtime.config.settings.usage;
        const store = backend
          ? new RedisUsageStore(backend, () => usage().retentionDays)
          : new InMemoryUsageStore(usage().store, () => oldestKeptDay(usage().retentionDays));
        await store.open();
        return store;
      },
    },
    {
      provide: AccountShareStore,
      inject: [StateConnection],
      useFactory: ({ backend }: StateConnection) =>
        backend ? new RedisAccountShareStore(backend) : new InMemoryAccountShareStore(),
    },
    {
      provide: LimitStore,
      inject: [StateConnection],
      useFactory: ({ backend }: StateConnection) => (backend ? new RedisLimitStore(backend) : new InMemoryLimitStore()),
    },
    {
      provide: DedupStore,
      inject: [ActiveConfig, StateConnection],
      useFactory: (active: ActiveConfig, { backend }: StateConnection) => {
        const limits = () => {
          const dedup = active.runtime.config.settings.deduplication;
          return {
            ttlMs: dedup.cacheTtlSeconds * 1000,
            maxEntries: dedup.cacheSizeLimit,
            maxBytes: dedup.cacheMaxBytes,
          };
        };
        return backend ? new RedisDedupStore(backend, limits) : new InMemoryDedupStore(limits);
      },
    },
  ],
  exports: [
    StateConnection,
    RefreshLock,
    HealthStore,
    SelectionStore,
    DedupStore,
    UsageStore,
    LimitStore,
    AccountShareStore,
    TokenStore,
    AccountStateStore,
    LoginSessionStore,
  ],
})
export class StateModule {}

function oldestKeptDay(retentionDays: number): string {
  return utcDay(Date.now() - (retentionDays - 1) * 86_400_000);
}

/**
 * Where Claude accounts live: in Redis, sealed, when replicas share state (BALANCER_STATE_KEY required once an oauth
 * provider exists), else the token_store file, else memory.
 */
function tokenStoreFor(config: GatewayConfig, backend: StateBackend | undefined, stateKey: string | undefined) {
  if (backend) {
    if (stateKey) return new RedisTokenStore(backend, stateKey);
    if (config.providers.some((p) => p.authType === 'oauth')) {
      throw new TokenStoreError(
        'settings.state.backend is redis and a provider uses auth_type oauth: set BALANCER_STATE_KEY (a long random secret, the same on every replica) so that account tokens can be kept in Redis sealed.',
      );
    }
  }
  const path = config.settings.oauth.tokenStore;
  return path ? new FileTokenStore(path) : new InMemoryTokenStore();
}
