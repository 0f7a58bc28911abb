/**
 * A `type: openai` provider (Chat Completions) behind the real gateway, on loopback, driven by the official Anthropic
 * SDK: the conversion both ways, streaming and not, usage, tool names, what the upstream receives, and failover.
 */
import Anthropic from '@anthropic-ai/sdk';
import { eventually } from '../support/e2e-helpers';
import { type FakeBehaviour, type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  metricValue,
  postJson,
  type RunningGateway,
  sseEvents,
  startGateway,
} from '../support/gateway-harness';
import { openAiMessagesOf, type OpenAiRequestMessage, writeOpenAiAnswer } from '../support/openai-answers';

const MODEL = 'claude-sonnet-4-6';
const UPSTREAM_MODEL = 'gpt-upstream-x';
const OPENAI_KEY = 'sk-openai-main-secret';
const CLIENT_KEY = 'sk-client-key-not-for-upstreams';
const OPENAI_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MCP_TOOL = 'mcp__some.server__a_really_long_tool_name_that_goes_on_and_on_and_on';
const FAKE_TEXT = 'Hello from fake';
const BILLING_LINE = 'x-anthropic-billing-header: cc_version=2.1.3.f00; cc_entrypoint=cli; cch=0a1b2;';
const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

type Params = Anthropic.MessageCreateParamsNonStreaming;

function openAiProvider(name: string, url: string, extra: Record<string, unknown> = {}) {
  return { name, type: 'openai', base_url: `${url}/v1`, auth_value: `sk-openai-${name}-secret`, ...extra };
}

function sdkClient(gateway: RunningGateway): Anthropic {
  return new Anthropic({ baseURL: gateway.url, apiKey: CLIENT_KEY, maxRetries: 0 });
}

function ask(text: string, extra: Partial<Params> = {}): Params {
  return { model: MODEL, max_tokens: 1024, messages: [{ role: 'user', content: text }], ...extra };
}

/** What was on the wire: the SDK's accumulator adds helper fields of its own, and ids are random per message. */
function wire(message: Anthropic.Message): unknown {
  return JSON.parse(JSON.stringify({ ...message, id: 'ignored', parsed_output: undefined }));
}

function textOf(message: Anthropic.Message): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

/** Answers OpenAI requests with a function call to whichever offered tool is not Bash (the renamed MCP tool). */
const callRenamedTool: FakeBehaviour = {
  kind: 'custom',
  handle: (_req, res, body) => {
    const tools = (body as { tools?: { function: { name: string } }[] }).tools ?? [];
    const name = tools.map((tool) => tool.function.name).find((n) => n !== 'Bash') ?? 'missing';
    writeOpenAiAnswer(res, body, {
      content: 'Calling the MCP tool.',
      toolCalls: [{ id: 'call_mcp_1', name, arguments: '{"query":"status","limit":3}' }],
    });
  },
};

describe('an OpenAI-compatible provider behind the gateway', () => {
  describe('with one OpenAI provider, through the official SDK', () => {
    let fake: FakeUpstream;
    let gateway: RunningGateway;
    let client: Anthropic;

    beforeAll(async () => {
      fake = await startFakeUpstream();
      gateway = await startGateway({
        providers: [
          openAiProvider('oai', fake.url, { auth_value: OPENAI_KEY }),
          openAiProvider('oai-capped', fake.url, { max_tokens_cap: 1000 }),
          openAiProvider('oai-reasoning', fake.url, { openai: { max_tokens_field: 'max_completion_tokens' } }),
        ],
        model_routes: {
          'capped-model': [{ provider: 'oai-capped', model: 'gpt-capped', priority: 1 }],
          'reasoning-model': [{ provider: 'oai-reasoning', model: 'o-reasoner', priority: 1 }],
          '*': [{ provider: 'oai', model: UPSTREAM_MODEL, priority: 1 }],
        },
      });
      client = sdkClient(gateway);
    });

    afterAll(async () => {
      await gateway?.close();
      await fake?.close();
    });

    beforeEach(() => fake.reset());

    /** Asks once without and once with streaming; the SDK's accumulator must rebuild the non-streaming message. */
    async function bothModes(params: Params, forJson: FakeBehaviour, forStream: FakeBehaviour = forJson) {
      fake.enqueue(forJson, forStream);
      const direct = await client.messages.create(params);
      const streamed = await client.messages.stream(params).finalMessage();
      expect(fake.requests.map((r) => r.body.stream === true)).toEqual([false, true]);
      expect(wire(streamed)).toEqual(wire(direct));
      return direct;
    }

    it('should rebuild the same message from the stream as the non-streaming call returns', async () => {
      const direct = await bothModes(
        ask('run echo hi', {
          tools: [{ name: 'Bash', description: 'Run', input_schema: { type: 'object', properties: {} } }],
        }),
        {
          kind: 'openai',
          content: 'Let me check.',
          toolCalls: [{ id: 'call_1', name: 'Bash', arguments: '{"command":"echo hi"}' }],
          usage: { prompt_tokens: 120, completion_tokens: 30, cached_tokens: 100 },
        },
      );

      expect(direct.content).toEqual([
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'echo hi' } },
      ]);
      expect(direct.stop_reason).toBe('tool_use');
      expect(fake.requests[0]?.path).toBe('/v1/chat/completions');
      expect(fake.requests[0]?.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    });

    it('should rebuild a plain text answer from the stream as the non-streaming call returns', async () => {
      const direct = await bothModes(ask('say hello'), {
        kind: 'openai',
        content: 'Hello there, how can I help you today?',
        usage: { prompt_tokens: 12, completion_tokens: 9 },
      });

      expect(direct).toMatchObject({
        type: 'message',
        role: 'assistant',
        content: [{ type: 'text', text: 'Hello there, how can I help you today?' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 12, output_tokens: 9 },
      });
      expect(direct.id).toMatch(/^msg_/);
    });

    it('should rebuild text and two parallel tool calls with arguments split across chunks', async () => {
      const direct = await bothModes(ask('look at both'), {
        kind: 'openai',
        content: 'Checking both.',
        toolCalls: [
          { id: 'call_read_1', name: 'Read', arguments: '{"file_path":"/tmp/notes/a.txt","limit":20}' },
          { id: 'call_bash_2', name: 'Bash', arguments: '{"command":"ls -la /tmp","description":"List /tmp"}' },
        ],
      });

      expect(direct.content).toEqual([
        { type: 'text', text: 'Checking both.' },
        { type: 'tool_use', id: 'call_read_1', name: 'Read', input: { file_path: '/tmp/notes/a.txt', limit: 20 } },
        {
          type: 'tool_use',
          id: 'call_bash_2',
          name: 'Bash',
          input: { command: 'ls -la /tmp', description: 'List /tmp' },
        },
      ]);
      expect(direct.stop_reason).toBe('tool_use');
    });

    it('should rebuild two parallel tool calls announced together in one chunk, then argued index by index', async () => {
      const calls = [
        { id: 'call_grep_1', name: 'Grep', arguments: '{"pattern":"TODO","path":"src"}' },
        { id: 'call_glob_2', name: 'Glob', arguments: '{"pattern":"**/*.ts"}' },
      ];
      const base = { id: 'chatcmpl-raw', object: 'chat.completion.chunk', created: 1, model: UPSTREAM_MODEL };
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
        JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
      const fragments = calls.flatMap((call, index) =>
        [call.arguments.slice(0, 7), call.arguments.slice(7, 19), call.arguments.slice(19)].map((part) =>
          chunk({ tool_calls: [{ index, function: { arguments: part } }] }),
        ),
      );
      const direct = await bothModes(
        ask('search twice'),
        { kind: 'openai', toolCalls: calls, usage: { prompt_tokens: 30, completion_tokens: 20 } },
        {
          kind: 'openai-raw-stream',
          chunks: [
            chunk({ role: 'assistant', content: null }),
            chunk({
              tool_calls: calls.map((call, index) => ({
                index,
                id: call.id,
                type: 'function',
                function: { name: call.name, arguments: '' },
              })),
            }),
            ...fragments,
            chunk({}, 'tool_calls'),
            JSON.stringify({
              ...base,
              choices: [],
              usage: { prompt_tokens: 30, completion_tokens: 20, total_tokens: 50 },
            }),
            '[DONE]',
          ],
        },
      );

      expect(direct.content).toEqual([
        { type: 'tool_use', id: 'call_grep_1', name: 'Grep', input: { pattern: 'TODO', path: 'src' } },
        { type: 'tool_use', id: 'call_glob_2', name: 'Glob', input: { pattern: '**/*.ts' } },
      ]);
      expect(direct.stop_reason).toBe('tool_use');
    });

    it('should rebuild reasoning, then text, then a tool call, in that order', async () => {
      const direct = await bothModes(ask('think, then act'), {
        kind: 'openai',
        reasoning: 'The user wants a listing, so I will run ls.',
        content: 'I will list the files.',
        toolCalls: [{ id: 'call_ls', name: 'Bash', arguments: '{"command":"ls"}' }],
      });

      expect(direct.content).toEqual([
        { type: 'thinking', thinking: 'The user wants a listing, so I will run ls.', signature: '' },
        { type: 'text', text: 'I will list the files.' },
        { type: 'tool_use', id: 'call_ls', name: 'Bash', input: { command: 'ls' } },
      ]);
    });

    it('should keep the content of a chunk that also carries the finish_reason', async () => {
      const base = { id: 'chatcmpl-raw', object: 'chat.completion.chunk', created: 1, model: UPSTREAM_MODEL };
      const direct = await bothModes(
        ask('one chunk please'),
        { kind: 'openai', content: 'All in one chunk.', usage: { prompt_tokens: 40, completion_tokens: 6 } },
        {
          kind: 'openai-raw-stream',
          chunks: [
            JSON.stringify({
              ...base,
              choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
            }),
            JSON.stringify({
              ...base,
              choices: [{ index: 0, delta: { content: 'All in one chunk.' }, finish_reason: 'stop' }],
            }),
            JSON.stringify({
              ...base,
              choices: [],
              usage: {
                prompt_tokens: 40,
                completion_tokens: 6,
                total_tokens: 46,
                prompt_tokens_details: { cached_tokens: 0 },
              },
            }),
            '[DONE]',
          ],
        },
      );

      expect(direct.content).toEqual([{ type: 'text', text: 'All in one chunk.' }]);
      expect(direct.stop_reason).toBe('end_turn');
    });

    it('should report a non-zero input count when the upstream sends no usage', async () => {
      const noUsage: FakeBehaviour = {
        kind: 'custom',
        handle: (_req, res, body) => writeOpenAiAnswer(res, body, { content: 'No usage from me.', usage: null }),
      };
      const params = ask('count me even without usage, please');
      const direct = await bothModes(params, noUsage);

      expect(direct.content).toEqual([{ type: 'text', text: 'No usage from me.' }]);
      expect(direct.usage.input_tokens).toBeGreaterThan(0);
      expect(direct.usage.output_tokens).toBeGreaterThan(0);

      fake.enqueue(noUsage);
      const raw = await postJson(`${gateway.url}/v1/messages`, { ...params, stream: true });
      expect(raw.status).toBe(200);
      const events = sseEvents(raw.text);
      expect(events[0]?.event).toBe('message_start');
      expect(events[0]?.data.message.usage.input_tokens).toBeGreaterThan(0);
      const delta = events.find((e) => e.event === 'message_delta');
      expect(delta?.data.usage.input_tokens).toBe(direct.usage.input_tokens);
      expect(events.at(-1)?.event).toBe('message_stop');
    });

    it('should separate cached tokens from the prompt count and count them in the token metrics', async () => {
      const model = 'claude-usage-probe';
      const direct = await bothModes(ask('usage please', { model }), {
        kind: 'openai',
        content: 'Counted.',
        usage: { prompt_tokens: 120, completion_tokens: 30, cached_tokens: 100 },
      });

      expect(direct.usage).toEqual({
        input_tokens: 20,
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 0,
        output_tokens: 30,
      });
      const tokens = (type: string) => metricValue(gateway, 'balancer_tokens_total', { provider: 'oai', model, type });
      await eventually(async () => (await tokens('output')) === 60, 'output tokens of both calls counted');
      expect(await tokens('input')).toBe(40);
      expect(await tokens('cache_read')).toBe(200);
      expect(await tokens('cache_creation')).toBe(0);
    });

    it("should echo the client's model and give a long dotted MCP tool name back as the client sent it", async () => {
      const tools: Anthropic.Tool[] = [
        { name: MCP_TOOL, description: 'Query the server', input_schema: { type: 'object', properties: {} } },
        { name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: {} } },
      ];
      const direct = await bothModes(ask('use the MCP tool', { tools }), callRenamedTool);

      expect(direct.model).toBe(MODEL);
      expect(direct.content).toEqual([
        { type: 'text', text: 'Calling the MCP tool.' },
        { type: 'tool_use', id: 'call_mcp_1', name: MCP_TOOL, input: { query: 'status', limit: 3 } },
      ]);
      const upstreamNames = (fake.requests[0]!.body.tools as { function: { name: string } }[]).map(
        (t) => t.function.name,
      );
      expect(fake.requests[0]!.body.model).toBe(UPSTREAM_MODEL);
      expect(upstreamNames).toHaveLength(2);
      for (const name of upstreamNames) expect(name).toMatch(OPENAI_NAME);
      const [mapped] = upstreamNames;
      expect(mapped).not.toBe(MCP_TOOL);
      expect(upstreamNames[1]).toBe('Bash');

      // The next turn carries the call back: the upstream must see it under the same OpenAI name.
      fake.enqueue({ kind: 'openai', content: 'Done.' });
      await client.messages.create(
        ask('use the MCP tool', {
          tools,
          messages: [
            { role: 'user', content: 'use the MCP tool' },
            { role: 'assistant', content: direct.content as Anthropic.ContentBlockParam[] },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'call_mcp_1', content: 'status: green' }] },
          ],
        }),
      );
      const followUp = openAiMessagesOf(fake.requests[2]!.body);
      expect(followUp.slice(-2)).toEqual([
        {
          role: 'assistant',
          content: 'Calling the MCP tool.',
          tool_calls: [
            {
              id: 'call_mcp_1',
              type: 'function',
              function: { name: mapped, arguments: '{"query":"status","limit":3}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_mcp_1', content: 'status: green' },
      ]);
    });

    describe('what the upstream receives', () => {
      /** A Claude Code style request: billing line, cache breakpoints, a system message, a Read of a screenshot. */
      const claudeCodeStyle = {
        model: MODEL,
        max_tokens: 1024,
        system: [
          { type: 'text', text: BILLING_LINE },
          {
            type: 'text',
            text: "You are Claude Code, Anthropic's official CLI for Claude.",
            cache_control: { type: 'ephemeral' },
          },
          { type: 'text', text: 'Answer briefly.', cache_control: { type: 'ephemeral', ttl: '1h' } },
        ],
        tools: [
          {
            name: 'Read',
            description: 'Read a file',
            input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] },
            cache_control: { type: 'ephemeral' },
          },
        ],
        messages: [
          {
            role: 'user',
            content: [{ type: 'text', text: 'What is on the screenshot?', cache_control: { type: 'ephemeral' } }],
          },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Reading it.' },
              { type: 'tool_use', id: 'toolu_read_1', name: 'Read', input: { file_path: '/tmp/shot.png' } },
            ],
          },
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                tool_use_id: 'toolu_read_1',
                content: [
                  { type: 'text', text: 'Read image (1 KB)' },
                  { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_BASE64 } },
                ],
              },
              { type: 'text', text: 'Describe it.', cache_control: { type: 'ephemeral' } },
            ],
          },
          { role: 'system', content: 'The user switched to plan mode.' },
          { role: 'user', content: 'Go on.' },
        ],
      } as unknown as Params;

      const expectedMessages: OpenAiRequestMessage[] = [
        { role: 'system', content: "You are Claude Code, Anthropic's official CLI for Claude.\n\nAnswer briefly." },
        { role: 'user', content: 'What is on the screenshot?' },
        {
          role: 'assistant',
          content: 'Reading it.',
          tool_calls: [
            {
              id: 'toolu_read_1',
              type: 'function',
              function: { name: 'Read', arguments: '{"file_path":"/tmp/shot.png"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_read_1', content: expect.stringContaining('Read image (1 KB)') },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_BASE64}` } },
            { type: 'text', text: 'Describe it.' },
          ],
        },
        { role: 'system', content: 'The user switched to plan mode.' },
        { role: 'user', content: 'Go on.' },
      ];

      it("should convert Claude Code's system, history and tool results to Chat Completions messages", async () => {
        await client.messages.create(claudeCodeStyle);

        expect(fake.requests).toHaveLength(1);
        const { body, rawBody, headers, path } = fake.requests[0]!;
        expect(path).toBe('/v1/chat/completions');
        expect(body.model).toBe(UPSTREAM_MODEL);
        expect(openAiMessagesOf(body)).toEqual(expectedMessages);
        expect(body.tools).toEqual([
          {
            type: 'function',
            function: {
              name: 'Read',
              description: 'Read a file',
              parameters: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] },
            },
          },
        ]);
        expect(body.max_tokens).toBe(1024);
        expect(body.stream).toBeUndefined();
        expect(body.stream_options).toBeUndefined();
        expect(rawBody).not.toContain('cache_control');
        expect(rawBody).not.toContain('x-anthropic-billing-header');
        expect(headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
        expect(headers['x-api-key']).toBeUndefined();
        expect(JSON.stringify(headers)).not.toContain(CLIENT_KEY);
      });

      it('should ask for usage in the stream when the client streams', async () => {
        await client.messages.stream(claudeCodeStyle).finalMessage();

        expect(fake.requests).toHaveLength(1);
        const { body, rawBody, headers } = fake.requests[0]!;
        expect(body.stream).toBe(true);
        expect(body.stream_options).toEqual({ include_usage: true });
        expect(openAiMessagesOf(body)).toEqual(expectedMessages);
        expect(rawBody).not.toContain('cache_control');
        expect(headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
        expect(headers['x-api-key']).toBeUndefined();
      });

      it("should clamp max_tokens to the provider's max_tokens_cap", async () => {
        const streamed = await client.messages
          .stream(ask('big answer', { model: 'capped-model', max_tokens: 32_000 }))
          .finalMessage();
        await client.messages.create(ask('small answer', { model: 'capped-model', max_tokens: 500 }));

        expect(streamed.model).toBe('capped-model');
        expect(fake.requests.map((r): unknown[] => [r.body.model, r.body.max_tokens])).toEqual([
          ['gpt-capped', 1000],
          ['gpt-capped', 500],
        ]);
        expect(fake.requests[0]!.headers.authorization).toBe('Bearer sk-openai-oai-capped-secret');
      });

      it('should send max_completion_tokens to a provider configured with max_tokens_field', async () => {
        await client.messages.create(ask('reason about it', { model: 'reasoning-model', max_tokens: 2048 }));

        expect(fake.requests).toHaveLength(1);
        const { body } = fake.requests[0]!;
        expect(body.model).toBe('o-reasoner');
        expect(body.max_completion_tokens).toBe(2048);
        expect(body).not.toHaveProperty('max_tokens');
      });
    });
  });

  describe('when the OpenAI provider fails', () => {
    let failing: FakeUpstream;
    let anthropicBackup: FakeUpstream;
    let openAiBackup: FakeUpstream;
    let gateway: RunningGateway | undefined;

    beforeAll(async () => {
      [failing, anthropicBackup, openAiBackup] = await Promise.all([
        startFakeUpstream(),
        startFakeUpstream(),
        startFakeUpstream(),
      ]);
    });

    afterEach(async () => {
      await gateway?.close();
      gateway = undefined;
      for (const fake of [failing, anthropicBackup, openAiBackup]) fake.reset();
    });

    afterAll(async () => {
      await Promise.all([failing?.close(), anthropicBackup?.close(), openAiBackup?.close()]);
    });

    /**
     * A fresh gateway per test (health and metrics from zero); the failing provider is never put in cooldown and the
     * route never sticks to the backup, so every request tries the OpenAI provider first.
     */
    async function startPool(backup: 'anthropic' | 'openai'): Promise<{ client: Anthropic; backupFake: FakeUpstream }> {
      const backupFake = backup === 'anthropic' ? anthropicBackup : openAiBackup;
      const backupProvider =
        backup === 'anthropic' ? anthropicProvider('backup', backupFake.url) : openAiProvider('backup', backupFake.url);
      gateway = await startGateway({
        providers: [openAiProvider('first', failing.url), backupProvider],
        model_routes: {
          '*': [
            { provider: 'first', model: UPSTREAM_MODEL, priority: 1 },
            { provider: 'backup', model: 'passthrough', priority: 2 },
          ],
        },
        settings: { unhealthy_threshold: 100, sticky_provider_duration: 0 },
      });
      return { client: sdkClient(gateway), backupFake };
    }

    // No retry-after on the 429: it would cool the provider down and the second request would skip it.
    const failures: [string, 'anthropic' | 'openai', FakeBehaviour][] = [
      ['429', 'anthropic', { kind: 'status', status: 429 }],
      ['500', 'openai', { kind: 'status', status: 500 }],
      ['503', 'anthropic', { kind: 'status', status: 503 }],
      ['a connection reset', 'openai', { kind: 'reset' }],
    ];

    it.each(failures)(
      'should fail over inside the same request when the OpenAI provider answers %s (backup: %s)',
      async (_name, backup, failure) => {
        const { client, backupFake } = await startPool(backup);
        failing.setDefault(failure);

        const direct = await client.messages.create(ask('fail over please')).withResponse();
        expect(direct.response.headers.get('x-provider-used')).toBe('backup');
        expect(textOf(direct.data)).toBe(FAKE_TEXT);
        expect(direct.data.model).toBe(MODEL);
        expect([failing.requests.length, backupFake.requests.length]).toEqual([1, 1]);

        const stream = client.messages.stream(ask('fail over please'));
        const { response } = await stream.withResponse();
        const streamed = await stream.finalMessage();
        expect(response.headers.get('x-provider-used')).toBe('backup');
        expect(wire(streamed)).toEqual(wire(direct.data));
        expect([failing.requests.length, backupFake.requests.length]).toEqual([2, 2]);
        expect(failing.requests.every((r) => r.path === '/v1/chat/completions')).toBe(true);
        expect(await metricValue(gateway!, 'balancer_failovers_total', { from: 'first', to: 'backup' })).toBe(2);
      },
    );

    it('should return a context-length 400 as "prompt is too long" without failing over', async () => {
      const { client, backupFake } = await startPool('anthropic');
      failing.setDefault({
        kind: 'status',
        status: 400,
        body: JSON.stringify({
          error: {
            message:
              "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens.",
            type: 'invalid_request_error',
            param: 'messages',
            code: 'context_length_exceeded',
          },
        }),
      });

      for (const attempt of [
        () => client.messages.create(ask('a very long prompt')),
        () => client.messages.stream(ask('a very long prompt')).finalMessage(),
      ]) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(Anthropic.BadRequestError);
        const apiError = error as InstanceType<typeof Anthropic.BadRequestError>;
        expect(apiError.status).toBe(400);
        expect(apiError.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
        const message = (apiError.error as { error: { message: string } }).error.message;
        expect(message).toMatch(/^prompt is too long/);
        expect(message).toContain('131072 tokens > 128000 maximum');
      }
      expect(failing.requests).toHaveLength(2);
      expect(backupFake.requests).toHaveLength(0);
    });

    it('should end the stream with an error event, not message_stop, on an error chunk after content', async () => {
      const { backupFake } = await startPool('anthropic');
      // Paced, so the content has reached the client before the error: the gateway cannot fail over any more.
      const base = { id: 'chatcmpl-raw', object: 'chat.completion.chunk', created: 1, model: UPSTREAM_MODEL };
      const chunk = (delta: Record<string, unknown>) =>
        JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: null }] });
      failing.setDefault({
        kind: 'openai-raw-stream',
        eventDelayMs: 30,
        chunks: [
          chunk({ role: 'assistant' }),
          chunk({ content: 'Hello from ' }),
          chunk({ content: 'fake' }),
          JSON.stringify({ error: { message: 'upstream exploded', type: 'server_error', param: null, code: null } }),
        ],
      });

      const raw = await postJson(`${gateway!.url}/v1/messages`, { ...ask('stream then break'), stream: true });

      expect(raw.status).toBe(200);
      expect(raw.headers['x-provider-used']).toBe('first');
      const events = sseEvents(raw.text);
      const text = events
        .filter((e) => e.event === 'content_block_delta')
        .map((e) => String(e.data.delta.text))
        .join('');
      expect(text).toBe(FAKE_TEXT);
      expect(events.at(-1)).toEqual({
        event: 'error',
        data: { type: 'error', error: { type: 'api_error', message: expect.stringContaining('upstream exploded') } },
      });
      expect(events.map((e) => e.event)).not.toContain('message_stop');
      expect(events.map((e) => e.event)).not.toContain('message_delta');
      expect(backupFake.requests).toHaveLength(0);
    });

    it('should fail over to the second provider on an error chunk before any content', async () => {
      const { client, backupFake } = await startPool('anthropic');
      failing.setDefault({ kind: 'sse-error', afterEvents: 1, errorType: 'server_error', message: 'warming up' });

      const stream = client.messages.stream(ask('fail over mid-handshake'));
      const { response } = await stream.withResponse();
      const message = await stream.finalMessage();

      expect(response.headers.get('x-provider-used')).toBe('backup');
      expect(textOf(message)).toBe(FAKE_TEXT);
      expect(message.stop_reason).toBe('end_turn');
      expect([failing.requests.length, backupFake.requests.length]).toEqual([1, 1]);
    });

    it('should end the stream with an error event when the upstream stream is cut before [DONE]', async () => {
      const { backupFake } = await startPool('openai');
      failing.setDefault({ kind: 'cut', afterEvents: 3 });

      const raw = await postJson(`${gateway!.url}/v1/messages`, { ...ask('cut me off'), stream: true });

      expect(raw.status).toBe(200);
      const events = sseEvents(raw.text);
      expect(events.some((e) => e.event === 'content_block_delta')).toBe(true);
      expect(events.at(-1)?.event).toBe('error');
      expect(events.at(-1)?.data.type).toBe('error');
      expect(events.map((e) => e.event)).not.toContain('message_stop');
      expect(backupFake.requests).toHaveLength(0);
    });
  });

  describe('in a pool with an Anthropic provider', () => {
    let anthropic: FakeUpstream;
    let openai: FakeUpstream;
    let gateway: RunningGateway;
    let client: Anthropic;

    beforeAll(async () => {
      [anthropic, openai] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
      gateway = await startGateway({
        providers: [anthropicProvider('claude', anthropic.url), openAiProvider('oai', openai.url)],
        model_routes: {
          'count-model': [
            { provider: 'oai', model: UPSTREAM_MODEL, priority: 1 },
            { provider: 'claude', model: 'passthrough', priority: 2 },
          ],
          '*': [
            { provider: 'claude', model: 'passthrough', priority: 1 },
            { provider: 'oai', model: UPSTREAM_MODEL, priority: 2 },
          ],
        },
        settings: { unhealthy_threshold: 100, sticky_provider_duration: 0 },
      });
      client = sdkClient(gateway);
    });

    afterAll(async () => {
      await gateway?.close();
      await Promise.all([anthropic?.close(), openai?.close()]);
    });

    beforeEach(() => {
      anthropic.reset();
      openai.reset();
    });

    it('should answer from the OpenAI provider when the Anthropic provider is overloaded (529)', async () => {
      anthropic.setDefault({ kind: 'status', status: 529 });
      openai.setDefault({
        kind: 'openai',
        content: 'Answered by OpenAI.',
        toolCalls: [{ id: 'call_pool_1', name: 'Bash', arguments: '{"command":"pwd"}' }],
        usage: { prompt_tokens: 50, completion_tokens: 8 },
      });

      const direct = await client.messages.create(ask('who answers?')).withResponse();
      const stream = client.messages.stream(ask('who answers?'));
      const { response } = await stream.withResponse();
      const streamed = await stream.finalMessage();

      for (const headers of [direct.response.headers, response.headers])
        expect(headers.get('x-provider-used')).toBe('oai');
      expect(direct.data).toMatchObject({
        type: 'message',
        model: MODEL,
        content: [
          { type: 'text', text: 'Answered by OpenAI.' },
          { type: 'tool_use', id: 'call_pool_1', name: 'Bash', input: { command: 'pwd' } },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 50, output_tokens: 8 },
      });
      expect(wire(streamed)).toEqual(wire(direct.data));
      expect(anthropic.requests.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages']);
      expect(openai.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
    });

    it('should count tokens locally, without any upstream call, for a route whose first provider is OpenAI', async () => {
      const { data, response } = await client.messages
        .countTokens({
          model: 'count-model',
          messages: [{ role: 'user', content: 'How many tokens is this sentence?' }],
        })
        .withResponse();

      expect(response.status).toBe(200);
      expect(response.headers.get('x-token-count-source')).toBe('local');
      expect(data.input_tokens).toBeGreaterThan(0);
      expect(openai.requests).toHaveLength(0);
      expect(anthropic.requests).toHaveLength(0);
    });
  });
});
