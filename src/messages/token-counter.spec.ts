import { countTokensLocally, estimateInputTokens } from './token-counter';

describe('token counting', () => {
  const body = {
    model: 'm',
    system: [{ type: 'text', text: 'You are a helpful assistant.' }],
    messages: [
      { role: 'user', content: 'Hello there, how are you today?' },
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
          { type: 'tool_result', tool_use_id: 't', content: [{ type: 'text', text: 'file contents' }] },
        ],
      },
    ],
    tools: [{ name: 'Read', description: 'Reads a file', input_schema: { type: 'object' } }],
  };

  it('should count text with the tokenizer and add image, message and tool overheads', () => {
    const tokens = countTokensLocally(body);
    expect(tokens).toBeGreaterThan(1600 + 8 + 8);
    expect(tokens).toBeLessThan(1600 + 8 + 8 + 60);
  });

  it('should give a cheap estimate in the same range', () => {
    const estimate = estimateInputTokens(body);
    expect(Math.abs(estimate - countTokensLocally(body))).toBeLessThan(30);
  });

  it('should count around entries of tools that are not tools, as the fuzz tier once found', () => {
    const odd = { messages: [{ role: 'user', content: [] }], tools: [null, 3, 'x', { name: 'Read' }] };
    expect(countTokensLocally(odd)).toBe(countTokensLocally({ ...odd, tools: [{ name: 'Read' }] }));
  });

  it('should never count zero', () => {
    expect(countTokensLocally({ messages: [] })).toBe(1);
    expect(estimateInputTokens({ messages: [] })).toBe(1);
  });
});

describe('token counting of pathological text', () => {
  it('should count long unbroken runs without tokenizing them, so one request cannot stall the process', () => {
    const body = {
      messages: [{ role: 'user', content: `${'─'.repeat(20_000)} and ${'a'.repeat(40_000)} then normal words` }],
    };
    // Tokenizing these runs directly takes minutes, so the old behaviour fails on jest's own test timeout.
    const tokens = countTokensLocally(body);
    expect(tokens).toBeGreaterThan(60_000 / 3);
    expect(tokens).toBeLessThan(60_000 / 3 + 50);
  });

  it.each([
    ['newlines', '\n'],
    ['spaces', ' '],
    ['mixed whitespace', ' \n\t'],
  ])('should count long runs of %s without tokenizing them either', (_name, unit) => {
    const run = unit.repeat(Math.ceil(60_000 / unit.length));
    const tokens = countTokensLocally({ messages: [{ role: 'user', content: `before${run}after` }] });
    expect(tokens).toBeGreaterThan(run.length / 4);
    expect(tokens).toBeLessThan(run.length / 4 + 20);
  });
});
