import { toAnthropicError } from './openai-error.mapping';

function openAiError(message: string, type = 'invalid_request_error', code: string | null = null): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

describe('toAnthropicError', () => {
  it.each([
    [400, 400, 'invalid_request_error'],
    [401, 401, 'authentication_error'],
    [402, 402, 'billing_error'],
    [403, 403, 'permission_error'],
    [404, 404, 'not_found_error'],
    [408, 408, 'invalid_request_error'],
    [413, 413, 'request_too_large'],
    [422, 422, 'invalid_request_error'],
    [429, 429, 'rate_limit_error'],
    [500, 500, 'api_error'],
    [501, 501, 'api_error'],
    [502, 529, 'overloaded_error'],
    [503, 529, 'overloaded_error'],
    [504, 504, 'timeout_error'],
    [520, 520, 'api_error'],
  ])('should map upstream status %i to %i %s', (upstreamStatus, status, type) => {
    expect(toAnthropicError(upstreamStatus, openAiError('upstream said no'))).toEqual({
      status,
      body: { type: 'error', error: { type, message: 'upstream said no' } },
    });
  });

  it('should reword context_length_exceeded so Claude Code recognises the overflow', () => {
    const body = openAiError(
      "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.",
      'invalid_request_error',
      'context_length_exceeded',
    );
    expect(toAnthropicError(400, body).body.error).toEqual({
      type: 'invalid_request_error',
      message: 'prompt is too long: 130512 tokens > 128000 maximum',
    });
  });

  it('should prefix an overflow message it cannot take numbers from', () => {
    const body = openAiError('Input exceeds the context window', 'invalid_request_error', 'context_length_exceeded');
    expect(toAnthropicError(400, body).body.error.message).toBe('prompt is too long: Input exceeds the context window');
  });

  it('should recognise a vLLM overflow that carries no code', () => {
    const body = JSON.stringify({
      object: 'error',
      message:
        "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens (39000 in the messages, 1000 in the completion).",
      type: 'BadRequestError',
      code: 400,
    });
    expect(toAnthropicError(400, body).body.error.message).toBe('prompt is too long: 40000 tokens > 32768 maximum');
  });

  it('should read a string error, a detail field and plain text bodies', () => {
    expect(toAnthropicError(401, '{"error":"Invalid API key"}').body.error.message).toBe('Invalid API key');
    expect(toAnthropicError(404, '{"detail":"Model not found"}').body.error.message).toBe('Model not found');
    expect(toAnthropicError(502, '<html>Bad Gateway</html>')).toEqual({
      status: 529,
      body: { type: 'error', error: { type: 'overloaded_error', message: '<html>Bad Gateway</html>' } },
    });
    expect(
      toAnthropicError(429, '[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}]').body
        .error,
    ).toEqual({
      type: 'rate_limit_error',
      message: 'Quota exceeded',
    });
  });

  it('should describe an empty body by its status', () => {
    expect(toAnthropicError(500, '').body.error.message).toBe('Upstream returned HTTP 500');
  });

  it('should cut very long messages', () => {
    const message = toAnthropicError(500, 'x'.repeat(5000)).body.error.message;
    expect(message).toHaveLength(1001);
    expect(message.endsWith('…')).toBe(true);
  });
});
