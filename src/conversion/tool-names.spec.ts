import { sanitizeToolUseId, shortenToolName, ToolNameMap } from './tool-names';

const LONG_NAME = 'mcp__claude_in_chrome_browser_automation_server__take_full_page_screenshot_with_annotations';
const LONG_NAME_SHORTENED = 'mcp__claude_in_chrome_browser_automation_server__take_f_dc4ec832';

describe('ToolNameMap', () => {
  it('should leave names OpenAI accepts unchanged', () => {
    const names = new ToolNameMap();
    expect(names.toOpenAi('Read')).toBe('Read');
    expect(names.toOpenAi('mcp__github__create-issue')).toBe('mcp__github__create-issue');
    expect(names.toAnthropic('Read')).toBe('Read');
  });

  it('should shorten a long name to a 55-character prefix, an underscore and 8 hex of its sha256, and map it back', () => {
    const names = new ToolNameMap();
    const shortened = names.toOpenAi(LONG_NAME);
    expect(shortened).toBe(LONG_NAME_SHORTENED);
    expect(shortened).toHaveLength(64);
    expect(shortened).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(names.toAnthropic(shortened)).toBe(LONG_NAME);
  });

  it('should give the same name for the same input in every request', () => {
    expect(new ToolNameMap().toOpenAi(LONG_NAME)).toBe(new ToolNameMap().toOpenAi(LONG_NAME));
    expect(shortenToolName(LONG_NAME)).toBe(LONG_NAME_SHORTENED);
  });

  it('should replace characters OpenAI rejects and map the result back', () => {
    const names = new ToolNameMap();
    expect(names.toOpenAi('mcp.server:do thing')).toBe('mcp_server_do_thing');
    expect(names.toAnthropic('mcp_server_do_thing')).toBe('mcp.server:do thing');
  });

  it('should keep two names that sanitise alike apart so both map back', () => {
    const names = new ToolNameMap();
    expect(names.toOpenAi('a.b')).toBe('a_b');
    expect(names.toOpenAi('a:b')).toBe('a_b_6783a31e');
    expect(names.toAnthropic('a_b')).toBe('a.b');
    expect(names.toAnthropic('a_b_6783a31e')).toBe('a:b');
  });

  it('should return names it never produced unchanged', () => {
    expect(new ToolNameMap().toAnthropic('Unknown.Tool')).toBe('Unknown.Tool');
  });
});

describe('sanitizeToolUseId', () => {
  it('should keep ids that already match the Anthropic pattern', () => {
    expect(sanitizeToolUseId('toolu_01ABC-def')).toBe('toolu_01ABC-def');
    expect(sanitizeToolUseId('call_abc123')).toBe('call_abc123');
  });

  it('should replace foreign characters deterministically', () => {
    expect(sanitizeToolUseId('functions.Read:0')).toBe('functions_Read_0');
    expect(sanitizeToolUseId('functions.Read:0')).toBe(sanitizeToolUseId('functions.Read:0'));
  });

  it('should generate a fresh toolu_ id when the id is missing', () => {
    const first = sanitizeToolUseId(undefined);
    expect(first).toMatch(/^toolu_[0-9a-f]{24}$/);
    expect(sanitizeToolUseId('')).toMatch(/^toolu_[0-9a-f]{24}$/);
    expect(sanitizeToolUseId(undefined)).not.toBe(first);
  });
});
