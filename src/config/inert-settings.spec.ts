import { buildConfig } from './config-loader';
import { inertSettings, startupOnlyChanges } from './inert-settings';

describe('inertSettings', () => {
  const provider = { name: 'p', type: 'anthropic', base_url: 'https://p.example', auth_value: 'secret-123' };

  it('should say nothing for a config this version fully acts on', () => {
    expect(inertSettings(buildConfig({ providers: [provider], clients: [{ name: 'a', key: 'k' }] }, 'f', {}))).toEqual(
      [],
    );
  });

  it('should name client limits and the Redis backend, and no longer OAuth providers', () => {
    const config = buildConfig(
      {
        providers: [
          provider,
          { name: 'max', type: 'anthropic', base_url: 'https://api.anthropic.com', auth_type: 'oauth' },
        ],
        clients: [
          { name: 'alice', key: 'k1', rpm: 60 },
          { name: 'bob', key: 'k2' },
        ],
        settings: { state: { backend: 'redis' } },
      },
      'f',
      {},
    );
    const warnings = inertSettings(config);
    // The redis backend shares everything this version keeps, so it is not named.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^clients alice: rpm/);
    expect(warnings.join('\n')).not.toMatch(/oauth|redis/i);
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

  it('should name cost budgets, fair shares and usage accounting, which this version does not act on', () => {
    const config = buildConfig(
      {
        providers: [provider],
        clients: [{ name: 'carol', key: 'k3', daily_cost_budget: 25, share: 2 }],
        settings: { oauth: { fair_share_at: 0.8 }, usage: { retention_days: 90 } },
      },
      'f',
      {},
    );
    const warnings = inertSettings(config).join('\n');
    expect(warnings).toMatch(/clients carol: .*daily_cost_budget are not enforced/);
    expect(warnings).toMatch(/share and settings\.oauth\.fair_share_at .* not acted on/);
    expect(warnings).toMatch(/settings\.usage .* not acted on/);
  });
});
