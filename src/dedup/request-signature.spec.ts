import { RequestBody } from '../messages/request-body';
import { requestSignature } from './request-signature';

describe('requestSignature', () => {
  const body = { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], stream: true };
  const headers = { 'anthropic-version': '2023-06-01' };
  const sign = (
    b: Record<string, unknown>,
    scope = 'alice',
    h: Record<string, string> = headers,
    includeMaxTokens = false,
  ) => requestSignature(RequestBody.scan(Buffer.from(JSON.stringify(b))), h, scope, { includeMaxTokens });

  it('should ignore stream and top-level key order', () => {
    const { stream: _stream, ...nonStreaming } = body;
    const reordered = { messages: body.messages, model: 'm', max_tokens: 100 };
    expect(sign(nonStreaming)).toBe(sign(body));
    expect(sign(reordered)).toBe(sign(body));
  });

  it('should ignore max_tokens unless configured to include it', () => {
    expect(sign({ ...body, max_tokens: 5 })).toBe(sign(body));
    expect(sign({ ...body, max_tokens: 5 }, 'alice', headers, true)).not.toBe(sign(body, 'alice', headers, true));
  });

  it('should differ for any field that can change the answer, the client, or the beta headers', () => {
    const base = sign(body);
    expect(sign({ ...body, temperature: 0.5 })).not.toBe(base);
    expect(sign({ ...body, messages: [{ role: 'user', content: 'hi!' }] })).not.toBe(base);
    expect(sign({ ...body, model: 'other' })).not.toBe(base);
    expect(sign(body, 'bob')).not.toBe(base);
    expect(sign(body, 'alice', { ...headers, 'anthropic-beta': 'context-1m-2025-08-07' })).not.toBe(base);
  });
});
