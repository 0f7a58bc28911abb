import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import { anthropicProvider, postJson, type RunningGateway, startGateway } from '../support/gateway-harness';

describe('a conversation that moves from an OpenAI-compatible provider to Anthropic', () => {
  let anthropic: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    anthropic = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('anthropic', anthropic.url)],
      model_routes: { '*': [{ provider: 'anthropic', model: 'passthrough', priority: 1 }] },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await anthropic.close();
  });

  it('should take out thinking that has no signature and turn thinking off for that tool turn', async () => {
    const toolUse = { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'echo hi' } };
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [
        { role: 'user', content: 'run echo hi' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'from reasoning', signature: '' }, toolUse] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'hi' }] },
      ],
    };
    const response = await postJson(`${gateway.url}/v1/messages`, body);
    expect(response.status).toBe(200);
    const sent = anthropic.requests[0]!.body;
    expect(sent.messages[1]).toEqual({ role: 'assistant', content: [toolUse] });
    expect(sent.thinking).toEqual({ type: 'disabled' });
    expect(sent.messages[2]).toEqual(body.messages[2]);
  });

  it('should forward signed thinking byte for byte', async () => {
    const raw = JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 2048,
      thinking: { type: 'adaptive' },
      messages: [
        { role: 'user', content: 'q' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 't', signature: 'sig' },
            { type: 'text', text: 'a' },
          ],
        },
        { role: 'user', content: 'q2' },
      ],
    });
    anthropic.reset();
    const response = await postJson(`${gateway.url}/v1/messages`, raw);
    expect(response.status).toBe(200);
    expect(anthropic.requests[0]?.rawBody).toBe(raw);
  });
});
