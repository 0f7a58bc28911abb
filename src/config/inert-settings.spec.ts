import { buildConfig } from './config-loader';
import { inertSettings, startupOnlyChanges } from './inert-settings';

describe('inertSettings', () => {
  const provider = { name: 'p', type: 'anthropic', base_url: 'https://p.example', auth_value: 'secret-123' };

  it('should say nothing for a config this version fully acts on', () => {
    expect(inertSettings(buildConfig({ providers: [provider], clients: [{ name: 'a', key: 'k' }] }, 'f', {}))).toEqual(
      [],
    );
  });

  it('should name nothing for limits, budgets, usage, OAuth providers or the Redis backend, which it acts on', () => {
    const config = buildConfig(
      {
        providers: [
          provider,
          { name: 'max', type: 'anthropic', base_url: 'https://api.anthropic.com', auth_type: 'oauth' },
        ],
        clients: [
          { name: 'alice', key: 'k1', rpm: 60, max_concurrency: 2, daily_token_budget: 10, daily_cost_budget: 5 },
        ],
        settings: { state: { backend: 'redis' }, usage: { retention_days: 30 } },
      },
      'f',
      {},
    );
    expect(inertSettings(config)).toEqual([]);
  });

  it('should name settings a reload changed that apply only at the next start', () => {
    const base = { providers: [provider] };
    const before = buildConfig(base, 'f', {});
    const after = buildConfig(
      { ...base, settings: { port: 9191, oauth: { token_store: '/elsewhere.json' }, state: { key_prefix: 'other:' } } },
      'f',
      {},
    );
    expect(startupOnlyChanges(before, after)).toEqual([
      'settings.port changed: it takes effect at the next start, not on reload',
      'settings.oauth.token_store changed: it takes effect at the next start, not on reload',
      'settings.state.key_prefix changed: it takes effect at the next start, not on reload',
    ]);
    expect(startupOnlyChanges(before, buildConfig(base, 'f', {}))).toEqual([]);
  });

  it('should name fair shares, which this version does not act on', () => {
    const config = buildConfig(
      {
        providers: [provider],
        clients: [{ name: 'carol', key: 'k3', share: 2 }],
        settings: { oauth: { fair_share_at: 0.8 } },
      },
      'f',
      {},
    );
    expect(inertSettings(config).join('\n')).toMatch(/share and settings\.oauth\.fair_share_at .* not acted on/);
  });
});
