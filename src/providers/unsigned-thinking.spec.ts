import { mayHoldUnsignedThinking, withoutUnsignedThinking } from './unsigned-thinking';

const signed = { type: 'thinking', thinking: 'real', signature: 'sig-1' };
const unsigned = { type: 'thinking', thinking: 'from reasoning', signature: '' };
const toolUse = { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: {} };

describe('unsigned thinking before an Anthropic upstream', () => {
  it('should spot unsigned thinking in the raw bytes, compact or spaced', () => {
    expect(mayHoldUnsignedThinking(Buffer.from(JSON.stringify({ a: unsigned })))).toBe(true);
    expect(mayHoldUnsignedThinking(Buffer.from('{"signature": ""}'))).toBe(true);
    expect(mayHoldUnsignedThinking(Buffer.from(JSON.stringify({ a: signed })))).toBe(false);
  });

  it('should leave a conversation with only signed thinking untouched', () => {
    const body = { thinking: { type: 'adaptive' }, messages: [{ role: 'assistant', content: [signed, toolUse] }] };
    expect(withoutUnsignedThinking(body)).toBeUndefined();
  });

  it('should drop unsigned thinking and keep everything else in order', () => {
    const body = {
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [unsigned, { type: 'text', text: 'answer' }] },
        { role: 'user', content: [{ type: 'thinking', thinking: 'not assistant', signature: '' }] },
      ],
    };
    expect(withoutUnsignedThinking(body)?.messages).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: [{ type: 'text', text: 'answer' }] },
      body.messages[2],
    ]);
  });

  it('should turn thinking off when the last tool turn would no longer start with thinking', () => {
    const body = {
      thinking: { type: 'enabled', budget_tokens: 2048 },
      messages: [
        { role: 'assistant', content: [unsigned, toolUse] },
        { role: 'user', content: 'r' },
      ],
    };
    const fixed = withoutUnsignedThinking(body);
    expect(fixed?.thinking).toEqual({ type: 'disabled' });
    expect(fixed?.messages).toEqual([
      { role: 'assistant', content: [toolUse] },
      { role: 'user', content: 'r' },
    ]);
  });

  it('should keep thinking on when the last tool turn still starts with signed thinking', () => {
    const body = {
      thinking: { type: 'adaptive' },
      messages: [
        { role: 'assistant', content: [unsigned, { type: 'text', text: 'x' }] },
        { role: 'user', content: 'next' },
        { role: 'assistant', content: [signed, toolUse] },
      ],
    };
    expect(withoutUnsignedThinking(body)?.thinking).toEqual({ type: 'adaptive' });
  });

  it('should never leave an assistant turn empty', () => {
    const body = { messages: [{ role: 'assistant', content: [unsigned] }] };
    expect(withoutUnsignedThinking(body)?.messages).toEqual([
      { role: 'assistant', content: [{ type: 'text', text: '[thinking omitted]' }] },
    ]);
  });
});
