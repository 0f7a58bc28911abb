import { randomUUID } from 'node:crypto';
import { buildConfig } from '../../src/config/config-loader';
import { ActiveConfig } from '../../src/config/active-config';
import { ConfigSource } from '../../src/config/config-source';
import { MetricsService } from '../../src/metrics/metrics.service';
import { AccountRefresher } from '../../src/oauth/account-refresher';
import { InMemoryAccountStateStore } from '../../src/oauth/account-state.store';
import { RedisRefreshLock } from '../../src/oauth/refresh-lock';
import { RedisTokenStore } from '../../src/oauth/redis-token.store';
import { TokenEndpointClient } from '../../src/oauth/token-endpoint.client';
import { disposeBackend, testBackend } from '../../src/state/redis/redis-test-backend.harness';
import type { StateBackend } from '../../src/state/redis/state-backend';
import { type FakeTokenEndpoint, startFakeTokenEndpoint } from '../support/fake-token-endpoint';

const SECRET = 'replicas-share-this-state-key-0123456789';
const EMAIL = 'alice@example.com';

/** Two replicas' refreshers on one Redis: the token store and the refresh lock they share, the fake token endpoint. */
describe('refreshing one account from two replicas', () => {
  let tokens: FakeTokenEndpoint;
  const backends: StateBackend[] = [];
  const clients: TokenEndpointClient[] = [];

  beforeAll(async () => {
    tokens = await startFakeTokenEndpoint();
  });

  afterAll(async () => {
    for (const backend of backends) await disposeBackend(backend);
    await Promise.all(clients.map((client) => client.close()));
    await tokens.close();
  });

  async function replica(namespace: string) {
    const backend = await testBackend(namespace);
    backends.push(backend);
    const config = buildConfig(
      {
        providers: [{ name: 'max', type: 'anthropic', base_url: 'https://api.anthropic.com', auth_type: 'oauth' }],
        settings: { oauth: { token_url: tokens.tokenUrl, profile_url: tokens.profileUrl, refresh_margin: 60 } },
      },
      'replica.yaml',
      {},
    );
    const active = new ActiveConfig(new ConfigSource('replica.yaml', config, {}, {}));
    const store = new RedisTokenStore(backend, SECRET);
    const endpoint = new TokenEndpointClient(() => active.runtime.config.settings.oauth);
    clients.push(endpoint);
    const refresher = new AccountRefresher(
      store,
      new InMemoryAccountStateStore(),
      endpoint,
      new MetricsService(),
      active,
      new RedisRefreshLock(backend),
    );
    return { store, refresher };
  }

  it('should refresh exactly once, give both replicas the new token and store the rotated one', async () => {
    const namespace = `replicas-${randomUUID()}`;
    const [a, b] = [await replica(namespace), await replica(namespace)];
    tokens.addAccount({ email: EMAIL });
    const issued = tokens.issueTokens(EMAIL, { expiresIn: 30 });
    await a.store.put({
      email: EMAIL,
      accessToken: issued.accessToken,
      refreshToken: issued.refreshToken,
      expiresAt: issued.expiresAt,
      scopes: [],
      status: 'ok',
      addedAt: Date.now(),
    });
    tokens.delayMs = 200;
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => a.refresher.refresh(EMAIL, { seen: issued.refreshToken })),
      ...Array.from({ length: 5 }, () => b.refresher.refresh(EMAIL, { seen: issued.refreshToken })),
    ]);
    // Every call counts, refused ones too: without the shared lock the second replica spends the same token again.
    expect(tokens.calls.filter((call) => call.grant_type === 'refresh_token')).toHaveLength(1);
    const stored = await b.store.get(EMAIL);
    expect(stored?.refreshToken).not.toBe(issued.refreshToken);
    expect(stored?.status).toBe('ok');
    expect(new Set(results.map((record) => record?.accessToken))).toEqual(new Set([stored?.accessToken]));
    expect(tokens.tokenState(stored!.accessToken)).toBe('valid');
  });
});
