import Anthropic from '@anthropic-ai/sdk';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { type RunningGateway, startGateway } from '../support/gateway-harness';

describe('openai provider smoke', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [{ name: 'oai', type: 'openai', base_url: `${fake.url}/v1`, auth_value: 'sk-openai-secret-1' }],
      model_routes: { '*': [{ provider: 'oai', model: 'gpt-x', priority: 1 }] },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  it('should rebuild the same message from the stream as the non-streaming call returns', async () => {
    const behaviour = {
      kind: 'openai' as const,
      content: 'Let me check.',
      toolCalls: [{ id: 'call_1', name: 'Bash', arguments: '{"command":"echo hi"}' }],
      usage: { prompt_tokens: 120, completion_tokens: 30, cached_tokens: 100 },
    };
    fake.setDefault(behaviour);
    const client = new Anthropic({ baseURL: gateway.url, apiKey: 'unused', maxRetries: 0 });
    const params = {
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: [{ role: 'user' as const, content: 'run echo hi' }],
      tools: [{ name: 'Bash', description: 'Run', input_schema: { type: 'object' as const, properties: {} } }],
    };
    const direct = await client.messages.create(params);
    const streamed = await client.messages.stream(params).finalMessage();
    // The SDK's accumulator adds helper fields of its own; compare what was on the wire.
    const strip = (m: Anthropic.Message): unknown => JSON.parse(JSON.stringify({ ...m, id: 'x', parsed_output: undefined }));
    expect(strip(streamed)).toEqual(strip(direct));
    expect(direct.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'echo hi' } },
    ]);
    expect(direct.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 100, output_tokens: 30 });
    expect(fake.requests[0]?.path).toBe('/v1/chat/completions');
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer sk-openai-secret-1');
  });
});
