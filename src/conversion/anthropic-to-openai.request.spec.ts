import { type AnthropicRequest } from './anthropic.types';
import {
  MISSING_TOOL_RESULT_TEXT,
  stripBillingHeader,
  toOpenAiRequest,
  type OpenAiConversionOptions,
} from './anthropic-to-openai.request';

const LONG_TOOL = 'mcp__claude_in_chrome_browser_automation_server__take_full_page_screenshot_with_annotations';
const LONG_TOOL_SHORTENED = 'mcp__claude_in_chrome_browser_automation_server__take_f_dc4ec832';
const HASHED_USER = 'e47e43624081fdf98d8ff85b27e5f7be0e7871807fffdddec2289ec2ca26b2f4';
const READ_SCHEMA = {
  type: 'object',
  properties: { file_path: { type: 'string' } },
  required: ['file_path'],
  additionalProperties: false,
};
const EPHEMERAL = { type: 'ephemeral' as const };

function options(overrides: Partial<OpenAiConversionOptions> = {}): OpenAiConversionOptions {
  return {
    model: 'gpt-5',
    maxTokensField: 'max_completion_tokens',
    maxTokensCap: 32000,
    sendReasoningContent: false,
    reasoningEffort: true,
    keepCacheControl: false,
    ...overrides,
  };
}

function minimal(overrides: Partial<AnthropicRequest> = {}): AnthropicRequest {
  return { model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'Hi' }], ...overrides };
}

/** Shaped like a Claude Code turn: billing block, cached system prompt, a Read round trip with an image result. */
function claudeCodeBody(): AnthropicRequest {
  return {
    model: 'claude-sonnet-4-5',
    max_tokens: 64000,
    stream: true,
    temperature: 1,
    top_k: 40,
    metadata: { user_id: 'user_abc_account__session_123' },
    thinking: { type: 'enabled', budget_tokens: 4000 },
    context_management: { edits: [] },
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=cli; cch=4f2e1;' },
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: EPHEMERAL },
      { type: 'text', text: 'Main prompt.', cache_control: { type: 'ephemeral', ttl: '1h' } },
    ],
    tools: [
      { name: 'Read', description: 'Read a file', input_schema: READ_SCHEMA, cache_control: EPHEMERAL },
      { name: LONG_TOOL, type: 'custom', input_schema: { type: 'object', properties: {} }, strict: true },
      { type: 'web_search_20250305', name: 'web_search', max_uses: 5 },
      { type: 'bash_20250124', name: 'bash' },
    ],
    tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: '<system-reminder>Project context</system-reminder>' },
          { type: 'text', text: 'Show me the logo', cache_control: EPHEMERAL },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'I should read the file.', signature: 'c2lnbmF0dXJl' },
          { type: 'text', text: '  ' },
          { type: 'text', text: 'Reading it.' },
          { type: 'tool_use', id: 'toolu_01', name: 'Read', input: { file_path: '/repo/logo.png' } },
          { type: 'tool_use', id: 'toolu_02', name: LONG_TOOL, input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: 'toolu_01',
            content: [
              { type: 'text', text: 'Read image (2KB)' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            ],
          },
          { type: 'tool_result', tool_use_id: 'toolu_02', content: 'Browser not connected', is_error: true },
          {
            type: 'text',
            text: '<system-reminder>The todo list is empty.</system-reminder>',
            cache_control: EPHEMERAL,
          },
        ],
      },
      { role: 'system', content: 'x-anthropic-billing-header: cc_version=2.1.197.a1b;\nMid-conversation note.' },
      {
        role: 'assistant',
        content: [
          { type: 'redacted_thinking', data: 'EmwKAhgBEgy3' },
          { type: 'text', text: '' },
        ],
      },
      { role: 'user', content: 'Thanks' },
    ],
  };
}

describe('toOpenAiRequest', () => {
  describe('a Claude Code request', () => {
    it('should convert to the golden OpenAI request with defaults that strip cache_control and thinking', () => {
      const { request, toolNames } = toOpenAiRequest(claudeCodeBody(), options());
      expect(request).toEqual({
        model: 'gpt-5',
        messages: [
          { role: 'system', content: "You are Claude Code, Anthropic's official CLI for Claude.\n\nMain prompt." },
          {
            role: 'user',
            content: [
              { type: 'text', text: '<system-reminder>Project context</system-reminder>' },
              { type: 'text', text: 'Show me the logo' },
            ],
          },
          {
            role: 'assistant',
            content: 'Reading it.',
            tool_calls: [
              {
                id: 'toolu_01',
                type: 'function',
                function: { name: 'Read', arguments: '{"file_path":"/repo/logo.png"}' },
              },
              { id: 'toolu_02', type: 'function', function: { name: LONG_TOOL_SHORTENED, arguments: '{}' } },
            ],
          },
          {
            role: 'tool',
            tool_call_id: 'toolu_01',
            content: 'Read image (2KB)\n(1 attachment follows in the next user message)',
          },
          { role: 'tool', tool_call_id: 'toolu_02', content: 'Error: Browser not connected' },
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'text', text: '<system-reminder>The todo list is empty.</system-reminder>' },
            ],
          },
          { role: 'system', content: 'Mid-conversation note.' },
          { role: 'user', content: 'Thanks' },
        ],
        max_completion_tokens: 32000,
        temperature: 1,
        tools: [
          {
            type: 'function',
            function: { name: 'Read', description: 'Read a file', parameters: READ_SCHEMA },
          },
          {
            type: 'function',
            function: { name: LONG_TOOL_SHORTENED, parameters: { type: 'object', properties: {} }, strict: true },
          },
        ],
        tool_choice: 'auto',
        parallel_tool_calls: false,
        stream: true,
        stream_options: { include_usage: true },
        user: HASHED_USER,
        reasoning_effort: 'medium',
      });
      expect(toolNames.toAnthropic(LONG_TOOL_SHORTENED)).toBe(LONG_TOOL);
    });

    it('should keep cache_control on content parts and echo thinking as reasoning_content when configured', () => {
      const { request } = toOpenAiRequest(
        claudeCodeBody(),
        options({
          keepCacheControl: true,
          sendReasoningContent: true,
          maxTokensField: 'max_tokens',
          maxTokensCap: undefined,
        }),
      );
      expect(request.max_tokens).toBe(64000);
      expect(request.max_completion_tokens).toBeUndefined();
      expect(request.messages.slice(0, 3)).toEqual([
        {
          role: 'system',
          content: [
            {
              type: 'text',
              text: "You are Claude Code, Anthropic's official CLI for Claude.",
              cache_control: EPHEMERAL,
            },
            { type: 'text', text: 'Main prompt.', cache_control: { type: 'ephemeral', ttl: '1h' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: '<system-reminder>Project context</system-reminder>' },
            { type: 'text', text: 'Show me the logo', cache_control: EPHEMERAL },
          ],
        },
        expect.objectContaining({ role: 'assistant', reasoning_content: 'I should read the file.' }),
      ]);
      expect(request.messages[5]).toEqual({
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          {
            type: 'text',
            text: '<system-reminder>The todo list is empty.</system-reminder>',
            cache_control: EPHEMERAL,
          },
        ],
      });
      expect(JSON.stringify(request.tools)).not.toContain('cache_control');
    });

    it('should not mutate the request body it converts', () => {
      const body = claudeCodeBody();
      const before = JSON.stringify(body);
      toOpenAiRequest(body, options({ keepCacheControl: true, sendReasoningContent: true }));
      expect(JSON.stringify(body)).toBe(before);
    });
  });

  describe('system prompt', () => {
    it('should remove only the billing header line from a system string', () => {
      const { request } = toOpenAiRequest(
        minimal({ system: 'x-anthropic-billing-header: cc_version=1; cch=2;\nYou are helpful.\nBe brief.' }),
        options(),
      );
      expect(request.messages[0]).toEqual({ role: 'system', content: 'You are helpful.\nBe brief.' });
      expect(stripBillingHeader('keep x-anthropic-billing-header: inline')).toBe(
        'keep x-anthropic-billing-header: inline',
      );
    });

    it('should send no system message when nothing is left after stripping', () => {
      const { request } = toOpenAiRequest(
        minimal({ system: [{ type: 'text', text: 'x-anthropic-billing-header: cc_version=1;' }] }),
        options(),
      );
      expect(request.messages).toEqual([{ role: 'user', content: 'Hi' }]);
    });
  });

  describe('tool results', () => {
    const toolUse = (id: string) => ({ type: 'tool_use' as const, id, name: 'Read', input: { file_path: id } });

    it('should synthesize a result for a call the next user turn does not answer, and for a trailing call', () => {
      const { request } = toOpenAiRequest(
        minimal({
          messages: [
            { role: 'user', content: 'Read both' },
            { role: 'assistant', content: [toolUse('toolu_a'), toolUse('toolu_b')] },
            {
              role: 'user',
              content: [
                { type: 'tool_result', tool_use_id: 'toolu_b', content: 'b contents' },
                { type: 'text', text: '[Request interrupted by user]' },
              ],
            },
            { role: 'assistant', content: [toolUse('toolu_c')] },
          ],
        }),
        options(),
      );
      expect(request.messages.slice(2)).toEqual([
        { role: 'tool', tool_call_id: 'toolu_a', content: MISSING_TOOL_RESULT_TEXT },
        { role: 'tool', tool_call_id: 'toolu_b', content: 'b contents' },
        { role: 'user', content: '[Request interrupted by user]' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'toolu_c', type: 'function', function: { name: 'Read', arguments: '{"file_path":"toolu_c"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_c', content: MISSING_TOOL_RESULT_TEXT },
      ]);
      expect(MISSING_TOOL_RESULT_TEXT).toBe('No result was returned for this tool call.');
    });

    it('should turn a result without a matching earlier call into user text', () => {
      const { request } = toOpenAiRequest(
        minimal({
          messages: [
            {
              role: 'user',
              content: [
                { type: 'tool_result', tool_use_id: 'toolu_gone', content: [{ type: 'text', text: 'stale output' }] },
                { type: 'text', text: 'Continue' },
              ],
            },
          ],
        }),
        options(),
      );
      expect(request.messages).toEqual([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Tool result for toolu_gone:\nstale output' },
            { type: 'text', text: 'Continue' },
          ],
        },
      ]);
    });

    it('should pair results from consecutive user messages, which Anthropic merges into one turn', () => {
      const { request } = toOpenAiRequest(
        minimal({
          messages: [
            { role: 'user', content: 'Go' },
            { role: 'assistant', content: [toolUse('toolu_a')] },
            { role: 'user', content: [{ type: 'text', text: 'note' }] },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_a', content: 'done' }] },
          ],
        }),
        options(),
      );
      expect(request.messages.slice(2)).toEqual([
        { role: 'tool', tool_call_id: 'toolu_a', content: 'done' },
        { role: 'user', content: 'note' },
      ]);
    });

    it('should move a PDF from a tool result into the following user message and keep a text document as text', () => {
      const { request } = toOpenAiRequest(
        minimal({
          messages: [
            { role: 'user', content: 'Read' },
            { role: 'assistant', content: [toolUse('toolu_a')] },
            {
              role: 'user',
              content: [
                {
                  type: 'tool_result',
                  tool_use_id: 'toolu_a',
                  content: [
                    {
                      type: 'document',
                      title: 'spec.pdf',
                      source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
                    },
                    { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain notes' } },
                  ],
                },
              ],
            },
          ],
        }),
        options(),
      );
      expect(request.messages.slice(2)).toEqual([
        {
          role: 'tool',
          tool_call_id: 'toolu_a',
          content: 'plain notes\n(1 attachment follows in the next user message)',
        },
        {
          role: 'user',
          content: [
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'spec.pdf' } },
          ],
        },
      ]);
    });
  });

  describe('user content', () => {
    it('should map image sources to data URLs or plain URLs and never send blank text', () => {
      const { request } = toOpenAiRequest(
        minimal({
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: ' \n ' },
                { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } },
                { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
                { type: 'image', source: { type: 'file', file_id: 'file_011' } },
                { type: 'text', text: 'What are these?' },
              ],
            },
            { role: 'user', content: '   ' },
          ],
        }),
        options(),
      );
      expect(request.messages).toEqual([
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            { type: 'text', text: 'What are these?' },
          ],
        },
      ]);
    });

    it('should skip block types it does not know', () => {
      const body = minimal({
        messages: [
          { role: 'user', content: [{ type: 'future_block', payload: 1 } as never, { type: 'text', text: 'Hi' }] },
          {
            role: 'assistant',
            content: [
              { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} } as never,
              { type: 'text', text: 'Found it.' },
            ],
          },
        ],
      });
      expect(toOpenAiRequest(body, options()).request.messages).toEqual([
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Found it.' },
      ]);
    });
  });

  describe('tools and tool_choice', () => {
    const readTool = { name: 'Read', input_schema: READ_SCHEMA };

    it.each([
      [{ type: 'auto' as const }, 'auto'],
      [{ type: 'any' as const }, 'required'],
      [{ type: 'none' as const }, 'none'],
      [
        { type: 'tool' as const, name: 'Read' },
        { type: 'function', function: { name: 'Read' } },
      ],
    ])('should map tool_choice %j to %j', (choice, expected) => {
      const { request } = toOpenAiRequest(minimal({ tools: [readTool], tool_choice: choice }), options());
      expect(request.tool_choice).toEqual(expected);
      expect(request.parallel_tool_calls).toBeUndefined();
    });

    it('should drop tool_choice and parallel_tool_calls when no convertible tool remains', () => {
      const { request } = toOpenAiRequest(
        minimal({
          tools: [
            { type: 'web_search_20250305', name: 'web_search' },
            { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' },
          ],
          tool_choice: { type: 'any', disable_parallel_tool_use: true },
        }),
        options(),
      );
      expect(request).not.toHaveProperty('tools');
      expect(request).not.toHaveProperty('tool_choice');
      expect(request).not.toHaveProperty('parallel_tool_calls');
    });

    it('should not force a tool that was dropped', () => {
      const { request } = toOpenAiRequest(
        minimal({
          tools: [readTool, { type: 'web_search_20250305', name: 'web_search' }],
          tool_choice: { type: 'tool', name: 'web_search' },
        }),
        options(),
      );
      expect(request.tools).toHaveLength(1);
      expect(request).not.toHaveProperty('tool_choice');
    });
  });

  describe('scalar fields', () => {
    it('should keep at most four stop sequences, pass top_p and drop top_k and a false stream flag', () => {
      const { request } = toOpenAiRequest(
        minimal({ stop_sequences: ['a', 'b', '', 'c', 'd', 'e'], top_p: 0.9, top_k: 5, stream: false }),
        options({ maxTokensCap: undefined, maxTokensField: 'max_tokens' }),
      );
      expect(request).toEqual({
        model: 'gpt-5',
        messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 1024,
        top_p: 0.9,
        stop: ['a', 'b', 'c', 'd'],
      });
    });

    it.each([
      [{ type: 'enabled' as const, budget_tokens: 1024 }, undefined, 'low'],
      [{ type: 'enabled' as const, budget_tokens: 2048 }, undefined, 'medium'],
      [{ type: 'enabled' as const, budget_tokens: 8191 }, undefined, 'medium'],
      [{ type: 'enabled' as const, budget_tokens: 8192 }, undefined, 'high'],
      [{ type: 'adaptive' as const }, 'low', 'low'],
      [{ type: 'adaptive' as const }, 'medium', 'medium'],
      [{ type: 'adaptive' as const }, 'xhigh', 'high'],
      [{ type: 'adaptive' as const }, 'max', 'high'],
      [{ type: 'adaptive' as const }, undefined, undefined],
      [{ type: 'disabled' as const }, 'high', undefined],
    ])('should map thinking %j with effort %s to reasoning_effort %s', (thinking, effort, expected) => {
      const body = minimal({ thinking, output_config: effort === undefined ? undefined : { effort } });
      expect(toOpenAiRequest(body, options()).request.reasoning_effort).toBe(expected);
    });

    it('should leave reasoning_effort out when the provider does not take it', () => {
      const body = minimal({ thinking: { type: 'enabled', budget_tokens: 10000 } });
      expect(toOpenAiRequest(body, options({ reasoningEffort: false })).request).not.toHaveProperty('reasoning_effort');
    });

    it('should map a JSON schema output format to response_format', () => {
      const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, additionalProperties: false };
      const body = minimal({ output_config: { format: { type: 'json_schema', schema } } });
      expect(toOpenAiRequest(body, options()).request.response_format).toEqual({
        type: 'json_schema',
        json_schema: { name: 'response', schema, strict: true },
      });
    });
  });
});
