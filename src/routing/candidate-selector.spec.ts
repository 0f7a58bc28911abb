import { buildConfig } from '../config/config-loader';
import type { Settings } from '../config/gateway-config';
import { CandidateSelector } from './candidate-selector';
import { RouteTable } from './route-table';
import { InMemoryHealthStore } from '../state/in-memory-health.store';
import { InMemorySelectionStore } from '../state/in-memory-selection.store';

const provider = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  type: 'anthropic',
  base_url: `https://${name}.example`,
  auth_value: 'secret-value',
  ...extra,
});

function setup(strategy: Settings['selectionStrategy'], routes: Record<string, unknown>, random = Math.random) {
  const config = buildConfig(
    {
      providers: [provider('a'), provider('b'), provider('c', { weight: 2 }), provider('off', { enabled: false })],
      model_routes: routes,
      settings: { selection_strategy: strategy },
    },
    'test.yaml',
    {},
  );
  const health = new InMemoryHealthStore();
  const selector = new CandidateSelector(health, new InMemorySelectionStore(), random);
  const table = new RouteTable(config);
  const plan = (model: string, sessionId?: string, dryRun = false) =>
    selector.plan(table, config.settings, { model, sessionId, dryRun });
  const names = async (model: string, sessionId?: string) =>
    (await plan(model, sessionId)).attempts.map((a) => a.provider.name);
  return { config, health, selector, plan, names };
}

const threeWay = {
  '*sonnet*': [
    { provider: 'a', model: 'passthrough', priority: 1 },
    { provider: 'b', model: 'vendor/sonnet', priority: 2 },
    { provider: 'c', model: 'passthrough', priority: 3 },
  ],
};

describe('CandidateSelector', () => {
  it('should order by priority and resolve passthrough and mapped models', async () => {
    const { plan } = setup('priority', threeWay);
    expect((await plan('claude-sonnet-4')).attempts.map((a) => [a.provider.name, a.upstreamModel])).toEqual([
      ['a', 'claude-sonnet-4'],
      ['b', 'vendor/sonnet'],
      ['c', 'claude-sonnet-4'],
    ]);
  });

  it('should prefer an exact key over patterns and return no route for an unknown model', async () => {
    const { plan } = setup('priority', {
      '*': [{ provider: 'a', model: 'passthrough', priority: 1 }],
      'claude-special': [{ provider: 'b', model: 'passthrough', priority: 1 }],
    });
    expect((await plan('claude-special')).attempts[0]?.provider.name).toBe('b');
    expect((await plan('anything')).attempts[0]?.provider.name).toBe('a');
    const none = await setup('priority', threeWay).plan('gpt-4o');
    expect(none).toEqual({ route: null, attempts: [], verdicts: [] });
  });

  it('should skip disabled providers and providers in cooldown, and say why', async () => {
    const { plan, health, config } = setup('priority', {
      '*': [
        { provider: 'off', model: 'passthrough', priority: 1 },
        { provider: 'a', model: 'passthrough', priority: 2 },
        { provider: 'b', model: 'passthrough', priority: 3 },
      ],
    });
    await health.recordFailure('a', 'HTTP 529', config.settings);
    await health.recordFailure('a', 'HTTP 529', config.settings);
    const result = await plan('m');
    expect(result.attempts.map((a) => a.provider.name)).toEqual(['b']);
    expect(result.verdicts.map((v) => [v.provider, v.eligible])).toEqual([
      ['off', false],
      ['a', false],
      ['b', true],
    ]);
    expect(result.verdicts[1]?.reason).toMatch(/cooling down until .* after: HTTP 529/);
  });

  it('should fall through to the next matching pattern when every candidate of a route is unusable', async () => {
    const { plan, health, config } = setup('priority', {
      '*sonnet*': [{ provider: 'a', model: 'passthrough', priority: 1 }],
      '*': [{ provider: 'b', model: 'fallback-model', priority: 1 }],
    });
    await health.recordFailure('a', 'down', config.settings, 60_000);
    const result = await plan('claude-sonnet-4');
    expect(result.route).toBe('*');
    expect(result.attempts.map((a) => [a.provider.name, a.upstreamModel])).toEqual([['b', 'fallback-model']]);
  });

  it('should rotate the first choice with round_robin, keeping the rest in priority order', async () => {
    const { names } = setup('round_robin', threeWay);
    expect([await names('sonnet'), await names('sonnet'), await names('sonnet'), await names('sonnet')]).toEqual([
      ['a', 'b', 'c'],
      ['b', 'a', 'c'],
      ['c', 'a', 'b'],
      ['a', 'b', 'c'],
    ]);
  });

  it('should pick the first choice uniformly with random', async () => {
    const draws = [0.1, 0.5, 0.9];
    const { names } = setup('random', threeWay, () => draws.shift() ?? 0);
    expect([(await names('sonnet'))[0], (await names('sonnet'))[0], (await names('sonnet'))[0]]).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('should pick the first choice in proportion to weight with weighted', async () => {
    // weights: a=1, b=1, c=2 (from the provider), total 4
    const draws = [0.2, 0.3, 0.6, 0.99];
    const { names } = setup('weighted', threeWay, () => draws.shift() ?? 0);
    expect([
      (await names('sonnet'))[0],
      (await names('sonnet'))[0],
      (await names('sonnet'))[0],
      (await names('sonnet'))[0],
    ]).toEqual(['a', 'b', 'c', 'c']);
  });

  it('should keep a priority route on the provider that last answered, per route', async () => {
    const { names, selector, config } = setup('priority', {
      '*sonnet*': threeWay['*sonnet*'],
      '*haiku*': threeWay['*sonnet*'],
    });
    await selector.recordSuccess('*sonnet*', undefined, 'b', config.settings);
    expect(await names('sonnet')).toEqual(['b', 'a', 'c']);
    expect(await names('haiku')).toEqual(['a', 'b', 'c']);
  });

  it('should stick rotating strategies per session only', async () => {
    const { names, selector, config } = setup('round_robin', threeWay);
    await selector.recordSuccess('*sonnet*', 'session-1', 'c', config.settings);
    expect((await names('sonnet', 'session-1'))[0]).toBe('c');
    expect((await names('sonnet', 'session-1'))[0]).toBe('c');
    expect(new Set([(await names('sonnet'))[0], (await names('sonnet'))[0], (await names('sonnet'))[0]]).size).toBe(3);
  });
});

describe('CandidateSelector dry runs', () => {
  it('should not move the round-robin turn', async () => {
    const { plan, names } = setup('round_robin', threeWay);
    expect((await plan('sonnet', undefined, true)).attempts[0]?.provider.name).toBe('a');
    expect((await plan('sonnet', undefined, true)).attempts[0]?.provider.name).toBe('a');
    expect((await names('sonnet'))[0]).toBe('a');
    expect((await names('sonnet'))[0]).toBe('b');
  });
});
