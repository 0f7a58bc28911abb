import { GatewayError } from '../common/gateway-error';
import { sessionIdOf, validateMessageBody } from './message-request';
import { RequestBody } from './request-body';

const scanned = (value: unknown) => RequestBody.scan(Buffer.from(JSON.stringify(value)));

function messageOf(body: unknown, endpoint: 'messages' | 'count_tokens' = 'messages'): string {
  try {
    validateMessageBody(
      body !== null && typeof body === 'object' && !Array.isArray(body) ? scanned(body) : body,
      endpoint,
    );
    return 'ok';
  } catch (error) {
    return error instanceof GatewayError ? `${error.status} ${error.type}: ${error.message}` : String(error);
  }
}

describe('validateMessageBody', () => {
  const valid = { model: 'm', messages: [], max_tokens: 10 };

  it('should name the missing or malformed field', () => {
    expect(messageOf([])).toBe('400 invalid_request_error: The request body must be a JSON object.');
    expect(messageOf({ messages: [], max_tokens: 1 })).toBe('400 invalid_request_error: model: Field required');
    expect(messageOf({ model: 'm', max_tokens: 1 })).toBe('400 invalid_request_error: messages: Field required');
    expect(messageOf({ model: 'm', messages: [] })).toBe('400 invalid_request_error: max_tokens: Field required');
    expect(messageOf({ ...valid, max_tokens: 0 })).toMatch(/max_tokens: must be a positive whole number/);
    expect(messageOf({ ...valid, stream: 'yes' })).toMatch(/stream: must be true or false/);
  });

  it('should let unknown fields, system messages and unknown block types through', () => {
    expect(
      messageOf({
        ...valid,
        max_tokens: 128000,
        context_management: { edits: [] },
        messages: [
          { role: 'system', content: 'x' },
          { role: 'user', content: [{ type: 'future_block' }] },
        ],
        tools: [{ type: 'web_search_20250305', name: 'web_search' }],
      }),
    ).toBe('ok');
  });

  it('should not require max_tokens for count_tokens', () => {
    expect(messageOf({ model: 'm', messages: [] }, 'count_tokens')).toBe('ok');
  });
});

describe('sessionIdOf', () => {
  it('should prefer the header and fall back to the session in metadata.user_id', () => {
    const body = scanned({ metadata: { user_id: JSON.stringify({ device_id: 'd', session_id: 'from-body' }) } });
    expect(sessionIdOf({ 'x-claude-code-session-id': 'from-header' }, body)).toBe('from-header');
    expect(sessionIdOf({}, body)).toBe('from-body');
    expect(sessionIdOf({}, scanned({ metadata: { user_id: 'plain-user' } }))).toBeUndefined();
  });
});
