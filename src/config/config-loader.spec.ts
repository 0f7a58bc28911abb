import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInDefault } from './built-in-default';
import { buildConfig, ConfigError, loadConfigFile, locateConfigFile } from './config-loader';

const minimal = {
  providers: [{ name: 'main', type: 'anthropic', base_url: 'https://api.anthropic.com', auth_value: 'sk-test-123456' }],
};

function issuesOf(document: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    buildConfig(document, 'providers.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return [];
}

describe('buildConfig', () => {
  it('should apply the documented defaults to a minimal file', () => {
    const config = buildConfig(minimal, 'providers.yaml', {});
    expect(config.providers[0]).toMatchObject({ name: 'main', authType: 'api_key', enabled: true, weight: 1 });
    expect(config.settings).toMatchObject({
      selectionStrategy: 'priority',
      failureCooldownSeconds: 180,
      unhealthyThreshold: 2,
      stickyProviderSeconds: 300,
      host: '127.0.0.1',
      port: 9090,
      maxBodyBytes: 33554432,
      timeouts: { connectMs: 10_000, firstByteMs: 120_000, idleMs: 300_000 },
    });
    expect(config.settings.unhealthyHttpCodes.has(529)).toBe(true);
  });

  it('should name every bad field by its path', () => {
    const issues = issuesOf({
      providers: [
        { name: 'a', type: 'anthropic', base_url: 'https://a.example', auth_value: 'k-123456' },
        { name: 'b', type: 'zed', base_url: 'https://b.example', auth_value: 'k-123456' },
        { name: 'c', type: 'anthropic', base_url: 'not a url', auth_value: 'k-123456' },
      ],
      settings: { selection_strategy: 'fastest', port: 'eighty' },
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        'providers[1].type: must be anthropic or openai',
        'providers[2].base_url: must be a URL',
        'settings.selection_strategy: must be priority, round_robin, random or weighted',
        'settings.port: must be a port number',
      ]),
    );
  });

  it('should expand ${VAR} and ${VAR:-default} and say which variable is missing', () => {
    const doc = {
      providers: [{ name: 'p', type: 'anthropic', base_url: '${BASE:-https://x.example}', auth_value: '${KEY}' }],
      settings: { port: '${PORT_FROM_ENV:-9191}' },
    };
    expect(buildConfig(doc, 'f', { KEY: 'sk-from-env' }).providers[0]).toMatchObject({
      baseUrl: 'https://x.example',
      authValue: 'sk-from-env',
    });
    expect(buildConfig(doc, 'f', { KEY: 'sk-from-env' }).settings.port).toBe(9191);
    expect(issuesOf(doc)).toEqual([
      'providers[0].auth_value: must not be empty for auth_type api_key (environment variable KEY is not set)',
    ]);
  });

  it('should reject routes naming unknown providers and duplicate provider names', () => {
    const issues = issuesOf({
      providers: [minimal.providers[0], minimal.providers[0]],
      model_routes: { '*': [{ provider: 'ghost', model: 'passthrough', priority: 1 }] },
    });
    expect(issues).toEqual([
      'providers[1].name: duplicates providers[0].name "main"',
      'model_routes["*"][0].provider: no provider is named "ghost"',
    ]);
  });

  it('should reject URLs the patterns accept but URL parsing refuses, such as a port over 65535', () => {
    const provider = { ...minimal.providers[0]!, base_url: 'http://127.0.0.1:99999', proxy: 'http://127.0.0.1:70000' };
    expect(issuesOf({ providers: [provider] })).toEqual([
      'providers[0].base_url: must be a URL',
      'providers[0].proxy: must be a proxy URL (http://, https:// or socks5://)',
    ]);
  });

  it('should read the seed-era spellings', () => {
    const config = buildConfig(
      {
        ...minimal,
        settings: {
          enable_deduplication: false,
          cache_ttl: 30,
          cache_size_limit: 10,
          timeouts: { streaming: { connect: 5, read: 200 }, non_streaming: { connect: 3, read: 60 } },
        },
      },
      'f',
      {},
    );
    expect(config.settings.deduplication).toMatchObject({ enabled: false, cacheTtlSeconds: 30, cacheSizeLimit: 10 });
    expect(config.settings.timeouts).toEqual({ connectMs: 5000, firstByteMs: 200_000, idleMs: 200_000 });
    expect(buildConfig({ ...minimal, settings: { request_timeout: 45 } }, 'f', {}).settings.timeouts).toMatchObject({
      firstByteMs: 45_000,
      idleMs: 45_000,
    });
  });

  it('should turn big_model and small_model into routes when model_routes is absent', () => {
    const config = buildConfig(
      { providers: [{ ...minimal.providers[0], big_model: 'passthrough', small_model: 'claude-3-5-haiku-20241022' }] },
      'f',
      {},
    );
    expect(config.routes.map((r) => [r.pattern, r.candidates[0]?.model])).toEqual([
      ['*haiku*', 'claude-3-5-haiku-20241022'],
      ['*', 'passthrough'],
    ]);
  });

  it('should treat the seed spelling auth_value: passthrough as auth_type passthrough', () => {
    const config = buildConfig(
      { providers: [{ name: 'p', type: 'anthropic', base_url: 'https://x.example', auth_value: 'passthrough' }] },
      'f',
      {},
    );
    expect(config.providers[0]).toMatchObject({ authType: 'passthrough', authValue: '' });
  });

  it('should keep secrets listed for scrubbing, including client keys and proxy passwords', () => {
    const config = buildConfig(
      {
        providers: [{ ...minimal.providers[0], proxy: 'http://user:proxy-pass-1@proxy:3128' }],
        clients: [{ name: 'alice', key: 'alice-key-1234567890' }],
      },
      'f',
      {},
    );
    expect(config.secrets).toEqual(expect.arrayContaining(['sk-test-123456', 'proxy-pass-1', 'alice-key-1234567890']));
  });
});

describe('locateConfigFile', () => {
  it('should prefer the explicit path, then BALANCER_CONFIG, then the default paths', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'config', 'providers.yaml'), 'x: 1');
    writeFileSync(join(dir, 'other.yaml'), 'x: 1');
    expect(locateConfigFile(undefined, {}, dir)).toBe(join(dir, 'config', 'providers.yaml'));
    expect(locateConfigFile(undefined, { BALANCER_CONFIG: 'other.yaml' }, dir)).toBe(join(dir, 'other.yaml'));
    expect(locateConfigFile('other.yaml', { BALANCER_CONFIG: 'nope.yaml' }, dir)).toBe(join(dir, 'other.yaml'));
  });

  it('should find nothing when no file is named or present (the built-in default then serves), and refuse a named one that is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    expect(locateConfigFile(undefined, {}, dir)).toBeUndefined();
    expect(() => locateConfigFile('missing.yaml', {}, dir)).toThrow(
      `Config file not found: ${join(dir, 'missing.yaml')}`,
    );
    expect(() => locateConfigFile(undefined, { BALANCER_CONFIG: 'gone.yaml' }, dir)).toThrow(/Config file not found/);
  });
});

describe('the built-in default', () => {
  it('should route every model to Anthropic with the caller’s own credential passed through', () => {
    const config = builtInDefault({});
    expect(config.providers.map((p) => [p.name, p.authType, p.baseUrl])).toEqual([
      ['anthropic', 'passthrough', 'https://api.anthropic.com'],
    ]);
    expect(config.routes.map((r) => r.pattern)).toEqual(['*']);
    expect(config.clients).toEqual([]);
    expect(config.settings.host).toBe('127.0.0.1');
  });
});

describe('providers.example.yaml', () => {
  const example = join(__dirname, '..', '..', 'providers.example.yaml');

  it('should say which variables to set when the keys are missing, with no fallback client key', () => {
    expect(() => loadConfigFile(example, { ANTHROPIC_API_KEY: 'sk-example-key' })).toThrow(
      /clients\[0\]\.key: must not be empty .*environment variable ALICE_KEY is not set/,
    );
    expect(() => loadConfigFile(example, { ALICE_KEY: 'alice-0123456789abcdef' })).toThrow(
      /environment variable ANTHROPIC_API_KEY is not set/,
    );
  });

  it('should refuse a short client key or a placeholder, naming the client', () => {
    const base = { providers: [{ name: 'p', type: 'anthropic', base_url: 'https://p.example', auth_value: 'x' }] };
    const load = (key: string) => () => buildConfig({ ...base, clients: [{ name: 'alice', key }] }, 'f', {});
    expect(load('short-key')).toThrow(/clients\[0\]\.key: is 9 characters; a client key must be at least 16.*alice/);
    expect(load('alice-change-me')).toThrow(/clients\[0\]\.key: is a placeholder .*alice/);
    expect(load('team-lead-replace-me')).toThrow(/placeholder/);
    expect(load('a-long-random-key-0123456789')).not.toThrow();
  });

  it('should load and validate as shipped once the key is set', () => {
    const config = loadConfigFile(example, {
      ANTHROPIC_API_KEY: 'sk-example-key',
      ALICE_KEY: 'alice-0123456789abcdef',
    });
    expect(config.providers.map((p) => p.name)).toEqual(['anthropic-main', 'claude-seats', 'relay', 'openrouter']);
    expect(config.routes.map((r) => r.pattern)).toEqual(['*sonnet*', '*haiku*', '*']);
    expect(config.settings.adminKey).toBeUndefined();
  });
});
