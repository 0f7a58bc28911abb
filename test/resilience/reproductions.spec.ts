/**
 * The one-line reproductions, each checked for what a user sees: a body that is not JSON, a schema nested
 * thousands of levels deep, a provider whose stream starts with HTML, and clients that trickle bytes or say nothing.
 */
import { sdkClient } from '../support/dedup-fixtures';
import { providerRow } from '../support/e2e-helpers';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  expectAnthropicError,
  postJson,
  type RunningGateway,
  startGateway,
} from '../support/gateway-harness';
import { type MalformedUpstream, startMalformedUpstream } from '../support/malformed-upstream';
import type { ServerLimits } from '../../src/server/server-limits';
import { isAnthropicError, RawConnection, type RawEnd, requestHead } from './raw-http';

const ALICE_KEY = 'client-alice-key-resilience';
const BOB_KEY = 'client-bob-key-resilience';
const VALID = '{"model":"claude-sonnet-x","max_tokens":16,"messages":[{"role":"user","content":"x"}]}';

function openAiProvider(name: string, url: string) {
  return { name, type: 'openai', base_url: `${url}/v1`, auth_value: `sk-openai-${name}-secret` };
}

/** A JSON Schema whose object nests `levels` deep through additionalProperties. */
function nestedSchema(levels: number): string {
  return '{"type":"object","additionalProperties":'.repeat(levels) + '{"type":"string"}' + '}'.repeat(levels);
}

function bodyWithDeepTool(model: string, levels: number): string {
  return (
    `{"model":"${model}","max_tokens":16,"messages":[{"role":"user","content":"x"}],` +
    `"tools":[{"name":"deep","description":"a deep schema","input_schema":${nestedSchema(levels)}}]}`
  );
}

describe('reproduction a: a body that is not JSON', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('main', fake.url)],
      model_routes: { '*': [{ provider: 'main', model: 'passthrough', priority: 1 }] },
      clients: [
        { name: 'alice', key: ALICE_KEY },
        { name: 'bob', key: BOB_KEY },
      ],
      settings: { deduplication: { enabled: false } },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  beforeEach(() => fake.reset());

  /** Each body, with the text whose first byte is where it stops being JSON. */
  const cases: { name: string; body: string; fault: string }[] = [
    {
      name: 'a bare tru in an array',
      body: '{"model":"claude-sonnet-x","max_tokens":16,"messages":[tru,{"role":"user","content":"x"}]}',
      fault: 'tru,',
    },
    {
      name: 'a trailing comma',
      body: '{"model":"claude-sonnet-x","max_tokens":16,"messages":[{"role":"user","content":"x"},]}',
      fault: ',]',
    },
    {
      name: 'a raw control character in a string',
      body: '{"model":"claude-sonnet-x","max_tokens":16,"messages":[{"role":"user","content":"x\u0001y"}]}',
      fault: '\u0001',
    },
    {
      name: 'a \\q escape',
      body: '{"model":"claude-sonnet-x","max_tokens":16,"messages":[{"role":"user","content":"\\q"}]}',
      fault: '\\q',
    },
    {
      name: 'NaN',
      body: '{"model":"claude-sonnet-x","max_tokens":NaN,"messages":[{"role":"user","content":"x"}]}',
      fault: 'NaN',
    },
    {
      name: 'an unquoted key',
      body: '{model:"claude-sonnet-x","max_tokens":16,"messages":[{"role":"user","content":"x"}]}',
      fault: 'model:',
    },
  ];

  it.each(cases)('should answer 400 naming the byte offset and forward nothing for $name', async ({ body, fault }) => {
    const response = await postJson(`${gateway.url}/v1/messages`, body, { 'x-api-key': ALICE_KEY });

    expectAnthropicError(response, 400, 'invalid_request_error');
    const message = response.body.error.message as string;
    const named = /\bbyte (\d+)/.exec(message);
    expect({ message, namesAByteOffset: named !== null }).toEqual({ message, namesAByteOffset: true });
    const offset = Number(named![1]);
    const at = Buffer.from(body).indexOf(fault);
    // The offset points at the fault (some parsers name the byte before a bad token, some the byte after it).
    expect(offset).toBeGreaterThanOrEqual(at - 1);
    expect(offset).toBeLessThanOrEqual(at + fault.length);
    expect(fake.requests).toHaveLength(0);
  });

  it('should still serve another client at once after many bad bodies, with no provider cooldown', async () => {
    for (let round = 0; round < 10; round++) {
      for (const { body } of cases) {
        const response = await postJson(`${gateway.url}/v1/messages`, body, { 'x-api-key': ALICE_KEY });
        expect(response.status).toBe(400);
      }
    }
    expect(fake.requests).toHaveLength(0);

    const response = await postJson(`${gateway.url}/v1/messages`, VALID, { 'x-api-key': BOB_KEY });

    expect(response.status).toBe(200);
    expect(response.headers['x-provider-used']).toBe('main');
    expect(response.body).toMatchObject({ type: 'message', content: [{ type: 'text', text: 'Hello from fake' }] });
    expect(fake.requests).toHaveLength(1);
    const row = await providerRow(gateway, 'main');
    expect(row).toMatchObject({ healthy: true, failure_count: 0, cooldown_until: null });
  });
});

describe('reproduction b: a tool schema nested thousands of levels deep', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('anthropic', fake.url), openAiProvider('oai', fake.url)],
      model_routes: {
        'gpt-deep': [{ provider: 'oai', model: 'gpt-upstream', priority: 1 }],
        '*': [{ provider: 'anthropic', model: 'passthrough', priority: 1 }],
      },
      settings: { deduplication: { enabled: false } },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  beforeEach(() => fake.reset());

  const routes = [
    { route: 'POST /v1/messages through an OpenAI-compatible provider', path: '/v1/messages', model: 'gpt-deep' },
    { route: 'POST /v1/messages through an Anthropic provider', path: '/v1/messages', model: 'claude-sonnet-x' },
    {
      route: 'count_tokens through an OpenAI-compatible provider',
      path: '/v1/messages/count_tokens',
      model: 'gpt-deep',
    },
    {
      route: 'count_tokens through an Anthropic provider',
      path: '/v1/messages/count_tokens',
      model: 'claude-sonnet-x',
    },
  ];
  const deep = [5000, 10000].flatMap((levels) => routes.map((r) => ({ ...r, levels })));

  it.each(deep)(
    'should answer 400 invalid_request_error for $levels levels on $route, forwarding nothing',
    async ({ path, model, levels }) => {
      const response = await postJson(`${gateway.url}${path}`, bodyWithDeepTool(model, levels));

      expectAnthropicError(response, 400, 'invalid_request_error');
      expect(response.body.error.message).toMatch(/deep|depth|nest/i);
      expect(fake.requests).toHaveLength(0);
    },
  );

  it.each(routes)('should answer a schema nested 500 levels on $route', async ({ path, model }) => {
    const response = await postJson(`${gateway.url}${path}`, bodyWithDeepTool(model, 500));

    expect({ status: response.status, body: response.text.slice(0, 300) }).toEqual({
      status: 200,
      body: expect.any(String),
    });
    if (path.endsWith('count_tokens')) expect(response.body).toEqual({ input_tokens: expect.any(Number) });
    else expect(response.body).toMatchObject({ type: 'message', content: [{ type: 'text' }] });
  });
});

describe('reproduction c: a 200 stream whose message_start carries HTML', () => {
  let malformed: MalformedUpstream;
  let healthy: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    [malformed, healthy] = await Promise.all([startMalformedUpstream('html-message-start'), startFakeUpstream()]);
    gateway = await startGateway({
      providers: [anthropicProvider('first', malformed.url), anthropicProvider('second', healthy.url)],
      model_routes: {
        '*': [
          { provider: 'first', model: 'passthrough', priority: 1 },
          { provider: 'second', model: 'passthrough', priority: 2 },
        ],
      },
      settings: { deduplication: { enabled: false } },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await Promise.all([malformed.close(), healthy.close()]);
  });

  it("should give the client the second provider's stream, which the official SDK parses", async () => {
    const { client, close } = sdkClient(gateway, { maxRetries: 0, timeout: 30_000 });
    try {
      const { data: stream, response } = await client.messages
        .create({ model: 'claude-sonnet-x', max_tokens: 16, stream: true, messages: [{ role: 'user', content: 'x' }] })
        .withResponse();
      const types: string[] = [];
      let text = '';
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
      }

      expect(response.headers.get('x-provider-used')).toBe('second');
      expect(types[0]).toBe('message_start');
      expect(types.at(-1)).toBe('message_stop');
      expect(text).toBe('Hello from fake');
      expect(malformed.requests).toHaveLength(1);
      expect(healthy.requests).toHaveLength(1);
    } finally {
      await close();
    }
  });
});

/** A request body of exactly 400 bytes. */
const BODY_400 = (() => {
  const base = '{"model":"claude-sonnet-x","max_tokens":16,"messages":[{"role":"user","content":""}]}';
  return base.replace('"content":""', `"content":"${'y'.repeat(400 - base.length)}"`);
})();

/** The three slow clients of the issue, all at once; each must get a 408 in Anthropic's shape and be closed. */
async function expectSlowClientsCut(gateway: RunningGateway, upstream: FakeUpstream, boundMs: number) {
  const headers = await RawConnection.open(gateway.url);
  const body = await RawConnection.open(gateway.url);
  const silent = await RawConnection.open(gateway.url);
  try {
    headers.trickle(requestHead('POST', '/v1/messages', { 'content-type': 'application/json' }), 500);
    body.write(
      requestHead('POST', '/v1/messages', {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(BODY_400),
      }),
    );
    body.trickle(BODY_400, 500);

    const ends = await Promise.all([
      headers.closedWithin(boundMs, 'headers trickled a byte every 500 ms'),
      body.closedWithin(boundMs, 'a 400-byte body trickled a byte every 500 ms'),
      silent.closedWithin(boundMs, 'a connection that sends nothing'),
    ]);

    const seen = (end: RawEnd) => ({
      status: end.response?.status,
      connection: end.response?.headers.connection,
      contentType: end.response?.headers['content-type'],
      anthropicShape: isAnthropicError(end.response?.json),
      received: end.response ? undefined : end.received.toString(),
    });
    const expected = {
      status: 408,
      connection: 'close',
      contentType: expect.stringMatching(/^application\/json/),
      anthropicShape: true,
      received: undefined,
    };
    expect(ends.map(seen)).toEqual([expected, expected, expected]);
    expect(upstream.requests).toHaveLength(0);
  } finally {
    await Promise.all([headers.destroy(), body.destroy(), silent.destroy()]);
  }
}

describe('reproduction d: clients that trickle bytes or send nothing', () => {
  let fake: FakeUpstream;

  beforeAll(async () => {
    fake = await startFakeUpstream();
  });

  afterAll(async () => {
    await fake.close();
  });

  beforeEach(() => fake.reset());

  const config = () => ({
    providers: [anthropicProvider('main', fake.url)],
    model_routes: { '*': [{ provider: 'main', model: 'passthrough', priority: 1 }] },
  });

  async function withGateway(limits: Partial<ServerLimits> | undefined, run: (g: RunningGateway) => Promise<void>) {
    const gateway = await startGateway(config(), {}, limits ? { serverLimits: limits } : {});
    try {
      await run(gateway);
    } finally {
      await gateway.close();
    }
  }

  it('should cut each of them with a 408 under the default server limits, within 25 s', async () => {
    await withGateway(undefined, (gateway) => expectSlowClientsCut(gateway, fake, 25_000));
  });

  it('should cut each of them with a 408 under short server limits, within 8 s', async () => {
    const limits = { headersTimeoutMs: 1500, requestTimeoutMs: 5000, bodyGraceMs: 1000, deadlineCheckMs: 250 };
    await withGateway(limits, (gateway) => expectSlowClientsCut(gateway, fake, 8_000));
  });
});
