import {
  parseToolArguments,
  toAnthropicMessage,
  toAnthropicUsage,
  toStopReason,
  type ResponseContext,
} from './openai-to-anthropic.response';
import { type OpenAiChatCompletion } from './openai.types';
import { ToolNameMap } from './tool-names';

const LONG_TOOL = 'mcp__claude_in_chrome_browser_automation_server__take_full_page_screenshot_with_annotations';

function context(toolNames = new ToolNameMap()): ResponseContext {
  return { requestedModel: 'claude-sonnet-4-5', toolNames, estimatedInputTokens: 1500 };
}

function completion(
  message: Record<string, unknown>,
  finishReason: string | null,
  usage?: unknown,
): OpenAiChatCompletion {
  return {
    id: 'chatcmpl-9',
    object: 'chat.completion',
    model: 'deepseek-chat',
    choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finishReason }],
    usage: usage as OpenAiChatCompletion['usage'],
  };
}

describe('toAnthropicMessage', () => {
  it('should convert reasoning, text and tool calls to the golden Anthropic message', () => {
    const toolNames = new ToolNameMap();
    const upstreamName = toolNames.toOpenAi(LONG_TOOL);
    const message = toAnthropicMessage(
      completion(
        {
          reasoning_content: 'The user wants two files.',
          content: 'Reading both.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'Read', arguments: '{"file_path":"a.ts"}' } },
            {
              id: 'functions.Read:1',
              type: 'function',
              function: { name: 'Read', arguments: '"{\\"file_path\\":\\"b.ts\\"}"' },
            },
            { id: 'call_3', type: 'function', function: { name: upstreamName, arguments: '' } },
          ],
        },
        'tool_calls',
        { prompt_tokens: 2000, completion_tokens: 80, prompt_tokens_details: { cached_tokens: 1800 } },
      ),
      context(toolNames),
    );
    expect(message).toEqual({
      id: expect.stringMatching(/^msg_[0-9a-f]{24}$/),
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [
        { type: 'thinking', thinking: 'The user wants two files.', signature: '' },
        { type: 'text', text: 'Reading both.' },
        { type: 'tool_use', id: 'call_1', name: 'Read', input: { file_path: 'a.ts' } },
        { type: 'tool_use', id: 'functions_Read_1', name: 'Read', input: { file_path: 'b.ts' } },
        { type: 'tool_use', id: 'call_3', name: LONG_TOOL, input: {} },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 200, output_tokens: 80, cache_creation_input_tokens: 0, cache_read_input_tokens: 1800 },
    });
  });

  it('should take `reasoning`, skip empty content and keep a refusal as text', () => {
    const message = toAnthropicMessage(
      completion({ reasoning: 'Hmm.', content: '', refusal: 'I can’t help with that.' }, 'content_filter', {
        prompt_tokens: 10,
        completion_tokens: 4,
      }),
      context(),
    );
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'Hmm.', signature: '' },
      { type: 'text', text: 'I can’t help with that.' },
    ]);
    expect(message.stop_reason).toBe('refusal');
  });

  it('should give a tool call without an id a fresh toolu_ id and say tool_use even when finish is stop', () => {
    const message = toAnthropicMessage(
      completion(
        { content: null, tool_calls: [{ type: 'function', function: { name: 'Bash', arguments: '{}' } }] },
        'stop',
      ),
      context(),
    );
    expect(message.content).toEqual([
      { type: 'tool_use', id: expect.stringMatching(/^toolu_[0-9a-f]{24}$/), name: 'Bash', input: {} },
    ]);
    expect(message.stop_reason).toBe('tool_use');
  });

  it('should estimate usage when the upstream reports none', () => {
    const message = toAnthropicMessage(completion({ content: 'Sixteen chars!!!' }, 'stop'), context());
    expect(message.usage).toEqual({
      input_tokens: 1500,
      output_tokens: 4,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
  });

  it('should survive a completion without choices', () => {
    const message = toAnthropicMessage({ choices: [] }, context());
    expect(message.content).toEqual([]);
    expect(message.stop_reason).toBe('end_turn');
  });
});

describe('parseToolArguments', () => {
  it.each([
    ['', {}],
    ['   ', {}],
    [undefined, {}],
    ['{"a":1}', { a: 1 }],
    ['"{\\"a\\":1}"', { a: 1 }],
    [{ a: 1 }, { a: 1 }],
    ['{"a":', { _raw_arguments: '{"a":' }],
    ['[1,2]', { _raw_arguments: '[1,2]' }],
    ['"just a string"', { _raw_arguments: '"just a string"' }],
  ])('should parse %j as %j', (raw, expected) => {
    expect(parseToolArguments(raw)).toEqual(expected);
  });
});

describe('toStopReason', () => {
  it.each([
    ['stop', false, 'end_turn'],
    ['stop', true, 'tool_use'],
    ['length', false, 'max_tokens'],
    ['length', true, 'max_tokens'],
    ['tool_calls', true, 'tool_use'],
    ['tool_calls', false, 'end_turn'],
    ['function_call', true, 'tool_use'],
    ['content_filter', false, 'refusal'],
    [null, false, 'end_turn'],
    [undefined, true, 'tool_use'],
    ['eos', false, 'end_turn'],
  ])('should map finish_reason %s with tool use %s to %s', (finishReason, sawToolUse, expected) => {
    expect(toStopReason(finishReason, sawToolUse)).toBe(expected);
  });
});

describe('toAnthropicUsage', () => {
  it.each([
    [
      'OpenAI cached tokens',
      { prompt_tokens: 120, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 100 } },
      { input_tokens: 20, output_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 },
    ],
    [
      'DeepSeek cache hits',
      { prompt_tokens: 500, completion_tokens: 7, prompt_cache_hit_tokens: 384, prompt_cache_miss_tokens: 116 },
      { input_tokens: 116, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 384 },
    ],
    [
      'OpenRouter cache writes',
      {
        prompt_tokens: 1000,
        completion_tokens: 9,
        prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 900 },
      },
      { input_tokens: 100, output_tokens: 9, cache_creation_input_tokens: 900, cache_read_input_tokens: 0 },
    ],
    [
      'cached tokens exceeding the prompt',
      { prompt_tokens: 50, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 64 } },
      { input_tokens: 0, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 64 },
    ],
    [
      'no usage at all',
      null,
      { input_tokens: 777, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    ],
  ])('should map %s', (_label, usage, expected) => {
    expect(toAnthropicUsage(usage, 777)).toEqual(expected);
  });

  it('should never estimate zero input tokens', () => {
    expect(toAnthropicUsage(undefined, 0).input_tokens).toBe(1);
  });
});
