import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  getJson,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const NAMES = ['one', 'two', 'three'] as const;
const MODEL = 'claude-sonnet-4-5';

describe('selection strategies over HTTP', () => {
  let fakes: FakeUpstream[];
  let gateway: RunningGateway | undefined;

  const counts = () => fakes.map((fake) => fake.requests.length);

  const start = async (
    settings: Record<string, unknown>,
    candidates?: Record<string, unknown>[],
    extraProviders = {},
  ) => {
    gateway = await startGateway({
      providers: [...NAMES.map((name, i) => anthropicProvider(name, fakes[i]!.url)), ...Object.values(extraProviders)],
      model_routes: {
        '*sonnet*': candidates ?? NAMES.map((provider, i) => ({ provider, model: 'passthrough', priority: i + 1 })),
      },
      settings,
    });
    return gateway;
  };

  const send = (headers: Record<string, string> = {}) =>
    postJson(`${gateway!.url}/v1/messages`, { model: MODEL, max_tokens: 16, messages: userMessage() }, headers);

  beforeAll(async () => {
    fakes = await Promise.all(NAMES.map(() => startFakeUpstream()));
  });

  afterAll(async () => {
    await Promise.all(fakes.map((fake) => fake.close()));
  });

  beforeEach(() => {
    for (const fake of fakes) fake.reset();
  });

  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
  });

  it('should spread requests evenly with round_robin when no session header is sent', async () => {
    await start({ selection_strategy: 'round_robin' });
    const used: string[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await send();
      expect(response.status).toBe(200);
      used.push(response.headers['x-provider-used'] as string);
    }
    expect(counts()).toEqual([2, 2, 2]);
    expect(new Set(used.slice(0, 3))).toEqual(new Set(NAMES));
  });

  it('should keep one session on one provider with round_robin', async () => {
    await start({ selection_strategy: 'round_robin' });
    const used = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const response = await send({ 'x-claude-code-session-id': 'session-aaa' });
      used.add(response.headers['x-provider-used'] as string);
    }
    expect(used.size).toBe(1);
    expect(counts().sort()).toEqual([0, 0, 6]);
  });

  it('should still rotate different sessions over the providers with round_robin', async () => {
    await start({ selection_strategy: 'round_robin' });
    for (const session of ['s-1', 's-2', 's-3']) {
      await send({ 'x-claude-code-session-id': session });
      await send({ 'x-claude-code-session-id': session });
    }
    expect(counts()).toEqual([2, 2, 2]);
  });

  it('should try the provider that answered after a failover first on the next priority request', async () => {
    await start({ selection_strategy: 'priority', unhealthy_threshold: 10 });
    fakes[0]!.enqueue({ kind: 'status', status: 500 });
    const failedOver = await send();
    expect(failedOver.headers['x-provider-used']).toBe('two');
    expect(counts()).toEqual([1, 1, 0]);

    const next = await send();
    expect(next.headers['x-provider-used']).toBe('two');
    expect(counts()).toEqual([1, 2, 0]);
  });

  it('should go back to the first priority provider when sticky_provider_duration is 0', async () => {
    await start({ selection_strategy: 'priority', unhealthy_threshold: 10, sticky_provider_duration: 0 });
    fakes[0]!.enqueue({ kind: 'status', status: 500 });
    expect((await send()).headers['x-provider-used']).toBe('two');
    expect(counts()).toEqual([1, 1, 0]);

    const next = await send();
    expect(next.headers['x-provider-used']).toBe('one');
    expect(counts()).toEqual([2, 1, 0]);
  });

  it('should always pick the weight-1 candidate first over a weight-0 one with weighted', async () => {
    await start({ selection_strategy: 'weighted' }, [
      { provider: 'one', model: 'passthrough', priority: 1, weight: 0 },
      { provider: 'two', model: 'passthrough', priority: 2, weight: 1 },
    ]);
    for (let i = 0; i < 12; i++) {
      expect((await send()).headers['x-provider-used']).toBe('two');
    }
    expect(counts()).toEqual([0, 12, 0]);
  });

  it('should still fail over to a weight-0 candidate when the weighted pick fails', async () => {
    await start({ selection_strategy: 'weighted', unhealthy_threshold: 10 }, [
      { provider: 'one', model: 'passthrough', priority: 1, weight: 0 },
      { provider: 'two', model: 'passthrough', priority: 2, weight: 1 },
    ]);
    fakes[1]!.enqueue({ kind: 'status', status: 529 });
    expect((await send()).headers['x-provider-used']).toBe('one');
    expect(counts()).toEqual([1, 1, 0]);
  });

  it('should show the order and reasons in a dry run without advancing round robin', async () => {
    await start(
      { selection_strategy: 'round_robin' },
      [
        ...NAMES.map((provider, i) => ({ provider, model: 'passthrough', priority: i + 1 })),
        { provider: 'off', model: 'other-model', priority: 4 },
      ],
      { off: anthropicProvider('off', 'http://127.0.0.1:9', { enabled: false }) },
    );
    const dryRun = () => getJson(`${gateway!.url}/providers/route?model=${MODEL}`);

    const first = await dryRun();
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ model: MODEL, route: '*sonnet*' });
    expect((first.body.order as { provider: string }[]).map((o) => o.provider)).toEqual(['one', 'two', 'three']);
    expect(first.body.order[0]).toEqual({ provider: 'one', model: MODEL });
    const verdicts = first.body.candidates as { provider: string; eligible: boolean; reason: string }[];
    expect(verdicts.map((v) => v.provider)).toEqual(['one', 'two', 'three', 'off']);
    expect(verdicts.filter((v) => v.eligible).map((v) => v.reason)).toEqual(['eligible', 'eligible', 'eligible']);
    expect(verdicts[3]).toMatchObject({ eligible: false, reason: expect.stringContaining('disabled') });

    const again = await dryRun();
    expect(again.body.order).toEqual(first.body.order);
    expect(counts()).toEqual([0, 0, 0]);

    expect((await send()).headers['x-provider-used']).toBe('one');
    const afterOne = await dryRun();
    expect((afterOne.body.order as { provider: string }[]).map((o) => o.provider)[0]).toBe('two');
    expect((await send()).headers['x-provider-used']).toBe('two');
  });

  it('should explain a cooling-down provider in the dry run', async () => {
    await start({ selection_strategy: 'priority', unhealthy_threshold: 1, failure_cooldown: 60 });
    fakes[0]!.enqueue({ kind: 'status', status: 503 });
    expect((await send()).headers['x-provider-used']).toBe('two');
    const plan = await getJson(`${gateway!.url}/providers/route?model=${MODEL}`);
    expect((plan.body.order as { provider: string }[]).map((o) => o.provider)).toEqual(['two', 'three']);
    const one = (plan.body.candidates as { provider: string }[]).find((c) => c.provider === 'one');
    expect(one).toMatchObject({ eligible: false, reason: expect.stringContaining('cooling down') });
  });

  it('should answer 400 for a dry run without a model', async () => {
    await start({});
    const response = await getJson(`${gateway!.url}/providers/route`);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });
});
