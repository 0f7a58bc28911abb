import fc from 'fast-check';
import { estimateInputTokens } from '../messages/token-counter';
import type { AnthropicRequest } from './anthropic.types';
import { toOpenAiRequest } from './anthropic-to-openai.request';
import { ConversionInputError } from './conversion-input.error';
import { checkConvertibleShape } from './request-shape';

const anything = fc.anything({ maxDepth: 3 });
const blockTypes = ['text', 'image', 'tool_use', 'tool_result', 'thinking', 'document', 'server_tool_use'];
const block = fc.oneof(
  anything,
  fc.record(
    {
      type: fc.constantFrom(...blockTypes),
      text: anything,
      id: anything,
      name: anything,
      input: anything,
      content: anything,
      source: anything,
      tool_use_id: anything,
      thinking: anything,
      signature: anything,
      cache_control: anything,
    },
    { requiredKeys: ['type'] },
  ),
);
const content = fc.oneof(fc.string(), fc.array(block), anything);
const body = fc.record(
  {
    model: fc.constant('m'),
    max_tokens: fc.oneof(fc.constant(16), anything),
    messages: fc.oneof(
      fc.array(fc.record({ role: fc.oneof(fc.constantFrom('user', 'assistant'), anything), content })),
      anything,
    ),
    system: content,
    tools: fc.oneof(
      fc.array(fc.oneof(anything, fc.record({ name: anything, description: anything, input_schema: anything }))),
      anything,
    ),
    tool_choice: anything,
    stop_sequences: anything,
    temperature: anything,
    thinking: anything,
    metadata: anything,
    stream: anything,
  },
  { requiredKeys: ['model', 'messages'] },
);

describe('checkConvertibleShape', () => {
  it('should let through only bodies the OpenAI conversion can convert, naming the rest as the client’s error', () => {
    fc.assert(
      fc.property(body, (candidate) => {
        try {
          checkConvertibleShape(candidate);
        } catch (error) {
          return error instanceof ConversionInputError;
        }
        toOpenAiRequest(candidate as unknown as AnthropicRequest, {
          model: 'upstream',
          maxTokensField: 'max_tokens',
          sendReasoningContent: false,
          reasoningEffort: true,
          keepCacheControl: false,
        });
        estimateInputTokens(candidate);
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    [{ tools: [{ name: null, input_schema: {} }] }, 'tools[0].name: must be a string'],
    [{ stop_sequences: 'x' }, 'stop_sequences: must be a list of strings'],
    [
      { messages: [{ role: 'assistant', content: [{ type: 'tool_use', id: 't', name: [], input: {} }] }] },
      'messages[0].content[0].name: must be a string',
    ],
  ])('should name what is wrong in %j', (fields, message) => {
    expect(() => checkConvertibleShape({ model: 'm', messages: [], ...fields })).toThrow(message);
  });
});
