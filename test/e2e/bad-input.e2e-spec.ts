import { Readable } from 'node:stream';
import { request } from 'undici';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream';
import {
  anthropicProvider,
  expectAnthropicError,
  getJson,
  metricValue,
  postJson,
  type RunningGateway,
  startGateway,
  userMessage,
} from '../support/gateway-harness';

const MAX_BODY_BYTES = 2048;

/** A body in Claude Code's style with things a strict validator would reject; the gateway must pass them through. */
function unusualBody(model: string) {
  return {
    model,
    max_tokens: 1024,
    some_future_field: { nested: [1, 2, 3], flag: true },
    context_management: {
      edits: [{ type: 'clear_tool_uses_20250919', trigger: { type: 'input_tokens', value: 30000 } }],
    },
    thinking: { type: 'enabled', budget_tokens: 512 },
    tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }],
    system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }],
    messages: [
      { role: 'system', content: 'A system message inside messages.' },
      { role: 'user', content: [{ type: 'text', text: 'Search the weather in Zürich ☀' }] },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'I should search.', signature: 'sig-abc==' },
          { type: 'redacted_thinking', data: 'opaque-bytes' },
          { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'weather Zürich' } },
          { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
          { type: 'brand_new_block', payload: 'x' },
        ],
      },
      { role: 'user', content: 'and tomorrow?' },
    ],
  };
}

describe('bad input and passthrough of what the gateway does not know', () => {
  let fake: FakeUpstream;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    gateway = await startGateway({
      providers: [anthropicProvider('main', fake.url)],
      model_routes: {
        '*sonnet*': [{ provider: 'main', model: 'passthrough', priority: 1 }],
        'claude-opus-mapped': [{ provider: 'main', model: 'vendor-x', priority: 1 }],
      },
      settings: { max_body_bytes: MAX_BODY_BYTES },
    });
  });

  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  beforeEach(() => fake.reset());

  const messages = (body: unknown, headers: Record<string, string> = {}) =>
    postJson(`${gateway.url}/v1/messages`, body, headers);

  it('should answer 400 invalid_request_error for a body that is not JSON', async () => {
    const response = await messages('{"model": "claude-sonnet-4-5", "messages": [');
    expectAnthropicError(response, 400, 'invalid_request_error');
    expect(response.body.error.message).toMatch(/JSON/);
    expect(fake.requests).toHaveLength(0);
  });

  it('should count requests refused before routing, with fixed labels', async () => {
    const labels = { provider: 'none', model: 'none', status: '400', client: 'anonymous' };
    const before = await metricValue(gateway, 'balancer_requests_total', labels);
    await messages({ model: 'invented-model-name-1', messages: userMessage() });
    await messages('not json');
    expect(await metricValue(gateway, 'balancer_requests_total', labels)).toBe(before + 2);
    const unrouted = { provider: 'none', model: 'unrouted', status: '404' };
    const unroutedBefore = await metricValue(gateway, 'balancer_requests_total', unrouted);
    await messages({ model: 'invented-model-name-2', max_tokens: 5, messages: userMessage() });
    expect(await metricValue(gateway, 'balancer_requests_total', unrouted)).toBe(unroutedBefore + 1);
  });

  it('should answer 400 for an empty body', async () => {
    expectAnthropicError(await messages(''), 400, 'invalid_request_error');
  });

  it('should answer 400 for JSON that is not an object', async () => {
    for (const body of ['[1,2,3]', '"a string"', '42', 'null', 'true']) {
      const response = await messages(body);
      expectAnthropicError(response, 400, 'invalid_request_error');
      expect(response.body.error.message).toMatch(/object/);
    }
    expect(fake.requests).toHaveLength(0);
  });

  it('should answer 400 naming the field when model, messages or max_tokens is missing', async () => {
    const complete = { model: 'claude-sonnet-4-5', messages: userMessage(), max_tokens: 10 };
    for (const field of ['model', 'messages', 'max_tokens'] as const) {
      const body: Record<string, unknown> = { ...complete };
      delete body[field];
      const response = await messages(body);
      expectAnthropicError(response, 400, 'invalid_request_error');
      expect(response.body.error.message).toContain(field);
    }
    expect(fake.requests).toHaveLength(0);
  });

  it('should answer 400 naming the field when model, messages or max_tokens has the wrong type', async () => {
    const complete = { model: 'claude-sonnet-4-5', messages: userMessage(), max_tokens: 10 };
    const cases: [string, unknown][] = [
      ['model', 42],
      ['messages', 'hello'],
      ['max_tokens', 'ten'],
    ];
    for (const [field, value] of cases) {
      const response = await messages({ ...complete, [field]: value });
      expectAnthropicError(response, 400, 'invalid_request_error');
      expect(response.body.error.message).toContain(field);
    }
  });

  it('should answer 413 request_too_large for a body over settings.max_body_bytes', async () => {
    const body = { model: 'claude-sonnet-4-5', max_tokens: 10, messages: userMessage('x'.repeat(10 * 1024)) };
    const response = await messages(body);
    expectAnthropicError(response, 413, 'request_too_large');
    expect(fake.requests).toHaveLength(0);
  });

  it('should answer 413 for an oversized chunked body without content-length', async () => {
    const text = JSON.stringify({
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      messages: userMessage('y'.repeat(10 * 1024)),
    });
    const chunks = text.match(/[\s\S]{1,1024}/g) ?? [];
    const response = await request(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Readable.from(chunks),
    });
    const answer = await response.body.text();
    expect(response.statusCode).toBe(413);
    expect(JSON.parse(answer)).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    expect(fake.requests).toHaveLength(0);
  });

  it('should answer 404 not_found_error naming a model no route matches', async () => {
    const response = await messages({ model: 'gpt-4o-mini', max_tokens: 10, messages: userMessage() });
    expectAnthropicError(response, 404, 'not_found_error');
    expect(response.body.error.message).toContain('gpt-4o-mini');
    expect(fake.requests).toHaveLength(0);
  });

  it('should answer an unknown path with an Anthropic-shaped 404', async () => {
    expectAnthropicError(await getJson(`${gateway.url}/v1/nothing-here`), 404, 'not_found_error');
  });

  it("should echo the client's x-request-id on an error", async () => {
    const response = await messages('not json', { 'x-request-id': 'client-trace-42' });
    expectAnthropicError(response, 400, 'invalid_request_error');
    expect(response.headers['x-request-id']).toBe('client-trace-42');
  });

  it('should forward unknown fields, system-role messages, context_management, thinking and server tools byte for byte', async () => {
    // Odd spacing and key order on purpose: a re-serialised body would not match.
    const raw = JSON.stringify(unusualBody('claude-sonnet-4-5'), null, 3).replace(
      '"max_tokens": 1024',
      '"max_tokens" :1024',
    );
    const response = await messages(raw);
    expect(response.status).toBe(200);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]?.rawBody).toBe(raw);
  });

  it('should forward a streaming request body byte for byte too', async () => {
    const raw = JSON.stringify({ ...unusualBody('claude-sonnet-4-5'), stream: true });
    const response = await messages(raw);
    expect(response.status).toBe(200);
    expect(fake.requests[0]?.rawBody).toBe(raw);
  });

  it('should change only the model for a mapped route', async () => {
    const sent = unusualBody('claude-opus-mapped');
    const response = await messages(sent);
    expect(response.status).toBe(200);
    const upstream = fake.requests[0]!;
    expect(upstream.body).toEqual({ ...sent, model: 'vendor-x' });
    expect(upstream.rawBody).toBe(JSON.stringify({ ...sent, model: 'vendor-x' }));
  });

  it('should pass the query string through to the upstream', async () => {
    const response = await postJson(`${gateway.url}/v1/messages?beta=true`, {
      model: 'claude-sonnet-4-5',
      max_tokens: 10,
      messages: userMessage(),
    });
    expect(response.status).toBe(200);
    expect(fake.requests[0]?.path).toBe('/v1/messages?beta=true');
  });
});
