import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  getJson,
  postJson,
  type RunningGateway,
  sseEvents,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

interface ProviderRow {
  name: string;
  failure_count: number;
  last_error: string | null;
}

const body = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-4-5',
  max_tokens: 32,
  messages: userMessage(),
  ...extra,
});

describe('POST /providers/reload', () => {
  let alpha: FakeUpstream;
  let beta: FakeUpstream;
  let gateway: RunningGateway;

  const onlyAlpha = (settings: Record<string, unknown> = {}) => ({
    providers: [anthropicProvider('alpha', alpha.url)],
    model_routes: { '*': [{ provider: 'alpha', model: 'passthrough', priority: 1 }] },
    settings,
  });

  const reload = () => postJson(`${gateway.url}/providers/reload`, '');
  const providersList = async () => ({
    providers: (await getJson(`${gateway.url}/providers`)).body.providers as ProviderRow[],
  });

  beforeAll(async () => {
    [alpha, beta] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    gateway = await startGateway(onlyAlpha());
  });

  afterAll(async () => {
    await gateway.close();
    await Promise.all([alpha.close(), beta.close()]);
  });

  beforeEach(async () => {
    gateway.writeConfig(onlyAlpha());
    expect((await reload()).status).toBe(200);
    alpha.reset();
    beta.reset();
  });

  it('should swap providers and routes and answer 200 with what was added, removed and changed', async () => {
    expect((await postJson(`${gateway.url}/v1/messages`, body())).headers['x-provider-used']).toBe('alpha');

    gateway.writeConfig({
      providers: [anthropicProvider('alpha', alpha.url, { weight: 5 }), anthropicProvider('beta', beta.url)],
      model_routes: { '*': [{ provider: 'beta', model: 'passthrough', priority: 1 }] },
    });
    const added = await reload();
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ added: ['beta'], removed: [], changed: ['alpha'], providers_count: 2 });
    const viaBeta = await postJson(`${gateway.url}/v1/messages`, body());
    expect(viaBeta.status).toBe(200);
    expect(viaBeta.headers['x-provider-used']).toBe('beta');
    expect(beta.requests).toHaveLength(1);

    gateway.writeConfig({
      providers: [anthropicProvider('beta', beta.url)],
      model_routes: { '*sonnet*': [{ provider: 'beta', model: 'passthrough', priority: 1 }] },
    });
    const removed = await reload();
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ added: [], removed: ['alpha'], changed: [], routes: ['*sonnet*'] });
    expect((await providersList()).providers.map((p) => p.name)).toEqual(['beta']);
    expect((await postJson(`${gateway.url}/v1/messages`, body({ model: 'claude-opus-4' }))).status).toBe(404);
    expect(alpha.requests).toHaveLength(1);
  });

  it('should let a stream in flight during a reload finish with message_stop', async () => {
    alpha.setDefault({
      kind: 'message',
      content: [{ type: 'text', text: 'a slow streamed answer' }],
      eventDelayMs: 60,
    });
    const response = await request(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body({ stream: true })),
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-provider-used']).toBe('alpha');
    const chunks = response.body[Symbol.asyncIterator]();
    let text = '';
    while (!text.includes('content_block_delta')) {
      const next = await chunks.next();
      if (next.done) break;
      text += (next.value as Buffer).toString('utf8');
    }
    expect(text).not.toContain('message_stop');

    // Mid-stream, the new config drops the provider that is streaming.
    gateway.writeConfig({
      providers: [anthropicProvider('beta', beta.url)],
      model_routes: { '*': [{ provider: 'beta', model: 'passthrough', priority: 1 }] },
    });
    const reloaded = await reload();
    expect(reloaded.status).toBe(200);
    expect(reloaded.body.removed).toEqual(['alpha']);

    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      text += (next.value as Buffer).toString('utf8');
    }
    const events = sseEvents(text).map((e) => e.event);
    expect(events).not.toContain('error');
    expect(events.filter((e) => e === 'content_block_delta')).toHaveLength(3);
    expect(events.at(-1)).toBe('message_stop');
    expect(alpha.clientAborts).toBe(0);

    expect((await postJson(`${gateway.url}/v1/messages`, body())).headers['x-provider-used']).toBe('beta');
  });

  it('should let a request that started before a reload fail over to a provider the reload removed', async () => {
    gateway.writeConfig({
      providers: [anthropicProvider('alpha', alpha.url), anthropicProvider('beta', beta.url)],
      model_routes: {
        '*': [
          { provider: 'alpha', model: 'passthrough', priority: 1 },
          { provider: 'beta', model: 'passthrough', priority: 2 },
        ],
      },
      settings: { sticky_provider_duration: 0 },
    });
    expect((await reload()).status).toBe(200);
    let failAlpha!: () => void;
    const alphaMayFail = new Promise<void>((resolve) => (failAlpha = resolve));
    alpha.enqueue({
      kind: 'custom',
      handle: (_req, res) => {
        void alphaMayFail.then(() => res.writeHead(500, { 'content-type': 'application/json' }).end('{}'));
      },
    });
    const pending = postJson(`${gateway.url}/v1/messages`, body());
    await alpha.waitForRequests(1);

    gateway.writeConfig(onlyAlpha());
    const reloaded = await reload();
    expect(reloaded.body.removed).toEqual(['beta']);
    failAlpha();

    const response = await pending;
    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('beta');
    const rows = (await providersList()).providers;
    expect(rows.map((row) => row.name)).toEqual(['alpha']);
  });

  it('should accept a bodyless reload with or without a content type', async () => {
    for (const headers of [
      {},
      { 'content-type': 'application/json' },
      { 'content-type': 'application/x-www-form-urlencoded' },
    ]) {
      const response = await request(`${gateway.url}/providers/reload`, { method: 'POST', headers });
      expect(response.statusCode).toBe(200);
      expect(await response.body.json()).toMatchObject({ status: 'reloaded', added: [], removed: [], changed: [] });
    }
  });

  it('should answer 400 naming the bad field for an invalid file and keep serving the old config', async () => {
    gateway.writeConfig({
      providers: [
        anthropicProvider('beta', beta.url),
        { ...anthropicProvider('gamma', beta.url), base_url: 'not a url' },
      ],
      model_routes: { '*': [{ provider: 'beta', model: 'passthrough', priority: 1 }] },
    });
    const refused = await reload();
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(refused.body.error.message).toContain('providers[1].base_url');
    expect(refused.headers['x-request-id']).toEqual(expect.any(String));

    const served = await postJson(`${gateway.url}/v1/messages`, body());
    expect(served.status).toBe(200);
    expect(served.headers['x-provider-used']).toBe('alpha');
    expect(beta.requests).toHaveLength(0);
    expect((await providersList()).providers.map((p) => p.name)).toEqual(['alpha']);
  });

  it('should answer 400 for a URL that only fails when parsed, and keep the old config', async () => {
    gateway.writeConfig({
      providers: [
        anthropicProvider('alpha', alpha.url),
        anthropicProvider('beta', 'http://127.0.0.1:99999'),
        anthropicProvider('gamma', beta.url, { proxy: 'http://127.0.0.1:70000' }),
      ],
      model_routes: { '*': [{ provider: 'beta', model: 'passthrough', priority: 1 }] },
    });
    const refused = await reload();
    expect(refused.status).toBe(400);
    expect(refused.body.error.type).toBe('invalid_request_error');
    expect(refused.body.error.message).toContain('providers[1].base_url');
    expect(refused.body.error.message).toContain('providers[2].proxy');
    expect((await providersList()).providers.map((p) => p.name)).toEqual(['alpha']);
    expect((await postJson(`${gateway.url}/v1/messages`, body())).headers['x-provider-used']).toBe('alpha');
  });

  it('should answer 400 for a file that is not valid YAML and keep the old config', async () => {
    writeFileSync(gateway.configPath, 'providers: [ {name: broken\n');
    const refused = await reload();
    expect(refused.status).toBe(400);
    expect(refused.body.error.type).toBe('invalid_request_error');
    expect((await postJson(`${gateway.url}/v1/messages`, body())).headers['x-provider-used']).toBe('alpha');
  });

  it('should keep the health state of a provider that is still configured', async () => {
    const withFallback = (alphaExtra: Record<string, unknown>) => ({
      providers: [anthropicProvider('alpha', alpha.url, alphaExtra), anthropicProvider('beta', beta.url)],
      model_routes: {
        '*': [
          { provider: 'alpha', model: 'passthrough', priority: 1 },
          { provider: 'beta', model: 'passthrough', priority: 2 },
        ],
      },
      settings: { unhealthy_threshold: 5 },
    });
    gateway.writeConfig(withFallback({}));
    expect((await reload()).status).toBe(200);
    alpha.enqueue({ kind: 'status', status: 500 });
    const failedOver = await postJson(`${gateway.url}/v1/messages`, body());
    expect(failedOver.headers['x-provider-used']).toBe('beta');
    const before = (await providersList()).providers.find((p) => p.name === 'alpha')!;
    expect(before.failure_count).toBe(1);
    expect(before.last_error).toContain('500');

    gateway.writeConfig(withFallback({ weight: 3 }));
    const reloaded = await reload();
    expect(reloaded.body.changed).toEqual(['alpha']);
    const after = (await providersList()).providers.find((p) => p.name === 'alpha')!;
    expect(after.failure_count).toBe(1);
    expect(after.last_error).toBe(before.last_error);
  });

  it('should forget the health state of a provider that was removed and added back', async () => {
    alpha.enqueue({ kind: 'status', status: 500 });
    expect((await postJson(`${gateway.url}/v1/messages`, body())).status).toBe(503);
    expect((await providersList()).providers[0]?.failure_count).toBeGreaterThan(0);

    gateway.writeConfig({
      providers: [anthropicProvider('beta', beta.url)],
      model_routes: { '*': [{ provider: 'beta', model: 'passthrough', priority: 1 }] },
    });
    expect((await reload()).status).toBe(200);
    gateway.writeConfig(onlyAlpha());
    expect((await reload()).body.added).toEqual(['alpha']);
    expect((await providersList()).providers[0]).toMatchObject({ name: 'alpha', failure_count: 0, last_error: null });
  });

  it('should apply new clients and a new admin key at once', async () => {
    gateway.writeConfig({
      ...onlyAlpha({ admin_key: 'reload-admin-key-1' }),
      clients: [{ name: 'dana', key: 'reload-client-key-1' }],
    });
    expect((await reload()).status).toBe(200);
    expect((await postJson(`${gateway.url}/v1/messages`, body())).status).toBe(401);
    const withKey = await postJson(`${gateway.url}/v1/messages`, body(), { 'x-api-key': 'reload-client-key-1' });
    expect(withKey.status).toBe(200);
    expect((await getJson(`${gateway.url}/providers`)).status).toBe(401);

    gateway.writeConfig(onlyAlpha());
    const restored = await postJson(`${gateway.url}/providers/reload`, '', { 'x-api-key': 'reload-admin-key-1' });
    expect(restored.status).toBe(200);
    expect((await postJson(`${gateway.url}/v1/messages`, body())).status).toBe(200);
  });

  it('should apply changed settings such as max_body_bytes at once', async () => {
    gateway.writeConfig(onlyAlpha({ max_body_bytes: 1024 }));
    expect((await reload()).status).toBe(200);
    const large = await postJson(`${gateway.url}/v1/messages`, body({ messages: userMessage('z'.repeat(4096)) }));
    expect(large.status).toBe(413);
    expect(large.body.error.type).toBe('request_too_large');
  });
});
