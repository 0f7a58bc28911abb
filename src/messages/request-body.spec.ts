import { RequestBody } from './request-body';

const scan = (text: string) => RequestBody.scan(Buffer.from(text));

describe('RequestBody', () => {
  it('should find every top-level field and parse each from its own bytes', () => {
    const body = scan(
      ' {"model" : "claude-x", "stream":true,"max_tokens":64000, "messages":[{"role":"user","content":"a \\"quoted\\" }]{ text"}],"metadata":{"user_id":"{\\"session_id\\":\\"s1\\"}"}} ',
    );
    expect(body.keys()).toEqual(['model', 'stream', 'max_tokens', 'messages', 'metadata']);
    expect(body.value('model')).toBe('claude-x');
    expect(body.value('stream')).toBe(true);
    expect(body.value('max_tokens')).toBe(64000);
    expect(body.value('metadata')).toEqual({ user_id: '{"session_id":"s1"}' });
    expect(body.rawValue('messages')?.toString()).toBe('[{"role":"user","content":"a \\"quoted\\" }]{ text"}]');
    expect(body.value('missing')).toBeUndefined();
  });

  it('should agree with JSON.parse on the whole body, non-ASCII text included', () => {
    const document = { model: 'm', messages: [{ role: 'user', content: '没有可用 — ok \\ "x"' }], n: -1.5e3, ok: null };
    const body = scan(JSON.stringify(document, null, 2));
    expect(body.json).toEqual(document);
    expect(body.value('n')).toBe(-1500);
    expect(body.value('ok')).toBeNull();
  });

  it('should replace fields and leave every other byte as it was', () => {
    const text = '{ "model":"a",  "x" :[1, 2],"max_tokens": 99999 }';
    const body = scan(text);
    expect(body.withFields({ model: 'vendor/b', max_tokens: 100 }).toString()).toBe(
      '{ "model":"vendor/b",  "x" :[1, 2],"max_tokens": 100 }',
    );
    expect(body.withFields({ absent: 1 }).toString()).toBe(text);
  });

  it('should refuse bodies whose structure is not JSON', () => {
    for (const bad of [
      '{',
      '{"a":1',
      '{"a":[1,2}',
      '{"a":"unterminated}',
      '{"a" 1}',
      '{"a":1,}',
      '{"a":tru}',
      '{"a":1} x',
      '{a:1}',
    ]) {
      expect(() => scan(bad)).toThrow(SyntaxError);
    }
    expect(scan('{}').keys()).toEqual([]);
  });

  it('should treat a backslash before a quote correctly when backslashes come in pairs', () => {
    const body = scan('{"a":"ends with backslash \\\\","b":2}');
    expect(body.value('a')).toBe('ends with backslash \\');
    expect(body.value('b')).toBe(2);
  });
});
