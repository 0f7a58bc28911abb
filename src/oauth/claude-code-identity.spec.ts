import { RequestBody } from '../messages/request-body';
import { isClaudeCodeRequest } from './claude-code-identity';

const body = (system: unknown) =>
  RequestBody.scan(Buffer.from(JSON.stringify({ model: 'm', max_tokens: 1, messages: [], system })));

describe('isClaudeCodeRequest', () => {
  it.each([
    ["You are Claude Code, Anthropic's official CLI for Claude.\n\nMore."],
    [[{ type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=cli; cch=1;' }]],
    [
      [
        { type: 'text', text: 'other' },
        { type: 'text', text: "You are a Claude agent, built on Anthropic's Claude Agent SDK." },
      ],
    ],
  ])('should recognise Claude Code by its system prompt: %j', (system) => {
    expect(isClaudeCodeRequest(body(system))).toBe(true);
  });

  it.each([
    [undefined],
    ['You are a helpful assistant.'],
    [[{ type: 'text', text: 'Pretend: You are Claude Code' }]],
    [42],
  ])('should not take %j for Claude Code', (system) => {
    expect(isClaudeCodeRequest(body(system))).toBe(false);
  });
});
