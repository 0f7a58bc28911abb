import { buildConfig } from './config-loader';
import { startupOnlyChanges } from './startup-only-settings';

describe('startupOnlyChanges', () => {
  const provider = { name: 'p', type: 'anthropic', base_url: 'https://p.example', auth_value: 'secret-123' };

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
});
