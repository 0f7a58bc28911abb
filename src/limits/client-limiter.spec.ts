import { buildConfig } from '../config/config-loader';
import { GatewayRuntime } from '../config/gateway-runtime';
import { GatewayError } from '../common/gateway-error';
import { MetricsService } from '../metrics/metrics.service';
import { RequestContext } from '../request/request-context';
import { InMemoryUsageStore } from '../usage/in-memory-usage.store';
import { emptyCounts } from '../usage/usage.store';
import { ClientLimiter } from './client-limiter';
import { InMemoryLimitStore } from './limit.store';

describe('ClientLimiter budgets', () => {
  const config = buildConfig(
    {
      providers: [{ name: 'p', type: 'anthropic', base_url: 'https://p.example', auth_value: 'secret-123' }],
      clients: [{ name: 'alice', key: 'alice-key-0123456789', daily_token_budget: 100 }],
    },
    'f',
    {},
  );
  const runtime = new GatewayRuntime(config);

  const contextFor = () => {
    const context = new RequestContext('req', runtime, Date.now(), true);
    context.client = config.clients[0];
    return context;
  };

  it('should refuse a spent budget for the rest of the UTC day, and let the request through the next day', async () => {
    const usage = new InMemoryUsageStore('', () => '2000-01-01');
    const limiter = new ClientLimiter(new InMemoryLimitStore(), usage, new MetricsService());
    await usage.add({
      day: '2026-12-02',
      client: 'alice',
      model: 'm',
      counts: { ...emptyCounts(), outputTokens: 100 },
    });
    const lateEvening = Date.parse('2026-12-02T23:59:00Z');
    const refusal = await limiter.admit(contextFor(), lateEvening).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(GatewayError);
    expect((refusal as GatewayError).headers).toMatchObject({ 'retry-after': '60', 'x-should-retry': 'false' });
    await expect(limiter.admit(contextFor(), Date.parse('2026-12-03T00:00:01Z'))).resolves.toBeUndefined();
  });
});
