import { compileModelPattern } from './model-pattern';

describe('compileModelPattern', () => {
  it('should match a star across any run of characters, slashes included', () => {
    const match = compileModelPattern('*sonnet*');
    expect(match('claude-sonnet-4-5')).toBe(true);
    expect(match('anthropic/claude-sonnet-4.5')).toBe(true);
    expect(match('claude-opus-4')).toBe(false);
  });

  it('should match the whole name, case-insensitively', () => {
    const match = compileModelPattern('claude-*');
    expect(match('Claude-Opus')).toBe(true);
    expect(match('x-claude-opus')).toBe(false);
  });

  it('should treat ? as exactly one character and dots literally', () => {
    const match = compileModelPattern('gpt-4.?');
    expect(match('gpt-4.1')).toBe(true);
    expect(match('gpt-4x1')).toBe(false);
    expect(match('gpt-4.12')).toBe(false);
  });

  it('should compare a name without wildcards exactly, ignoring case', () => {
    const match = compileModelPattern('claude-3-5-haiku-20241022');
    expect(match('CLAUDE-3-5-HAIKU-20241022')).toBe(true);
    expect(match('claude-3-5-haiku')).toBe(false);
  });
});
