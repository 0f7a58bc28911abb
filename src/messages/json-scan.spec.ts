import { MAX_JSON_DEPTH, JsonSyntaxError, parseBoundedJson } from './json-scan';
import { RequestBody } from './request-body';

const scan = (text: string | Buffer) => RequestBody.scan(Buffer.isBuffer(text) ? text : Buffer.from(text));
const offsetOf = (text: string | Buffer): number | undefined => {
  try {
    scan(text);
    return undefined;
  } catch (error) {
    return error instanceof JsonSyntaxError ? error.offset : -1;
  }
};

describe('whole-body JSON validation', () => {
  it('should refuse invalid JSON anywhere inside the body, naming the byte where it breaks', () => {
    const tru = '{"model":"claude-sonnet-x","max_tokens":16,"messages":[tru,{"role":"user","content":"x"}]}';
    expect(offsetOf(tru)).toBe(tru.indexOf('tru'));
    expect(offsetOf('{"messages":[1,2,]}')).toBe(17);
    expect(offsetOf('{"messages":["a\u0001b"]}')).toBe(15);
    expect(offsetOf('{"messages":["\\q"]}')).toBe(14);
    expect(offsetOf('{"messages":[NaN]}')).toBe(13);
    expect(offsetOf('{"messages":[{role:"user"}]}')).toBe(14);
    expect(offsetOf('{"messages":["\\u12g4"]}')).toBe(14);
    expect(offsetOf(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]))).toBe(6);
  });

  it(`should accept nesting to ${MAX_JSON_DEPTH} levels and refuse one more`, () => {
    const nested = (depth: number) => `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
    expect(() => scan(nested(MAX_JSON_DEPTH))).not.toThrow();
    expect(() => scan(nested(MAX_JSON_DEPTH + 1))).toThrow(/Nested deeper than 512 levels/);
    expect(() => scan(nested(6000))).toThrow(JsonSyntaxError);
  });

  it('should agree with JSON.parse on valid bodies with escapes, unicode and every kind of value', () => {
    const document = {
      model: 'm',
      messages: [{ role: 'user', content: 'tab\there "q" \\ \u2014 😀 \n' }],
      n: [-0.5, 1e10, 0, true, false, null, {}, []],
    };
    const body = scan(JSON.stringify(document));
    expect(body.json).toEqual(document);
    expect(body.keys()).toEqual(['model', 'messages', 'n']);
    expect(body.value('n')).toEqual(document.n);
  });

  it("should parse an upstream's JSON only within the same depth, so later serializing it cannot overflow", () => {
    expect(parseBoundedJson('{"input":{"a":[1,{"b":null}]}}')).toEqual({ input: { a: [1, { b: null }] } });
    expect(() => parseBoundedJson(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toThrow(JsonSyntaxError);
    expect(() => parseBoundedJson('{"a":1,}')).toThrow(JsonSyntaxError);
  });
});
