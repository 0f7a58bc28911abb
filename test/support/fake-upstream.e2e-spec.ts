import { request } from 'undici';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';

interface ParsedEvent {
  event?: string;
  data: string;
}

function parseSse(text: string): ParsedEvent[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const parsed: ParsedEvent = { data: '' };
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) parsed.event = line.slice('event: '.length);
        else if (line.startsWith('data: ')) parsed.data += line.slice('data: '.length);
      }
      return parsed;
    });
}

interface AnthropicEventData {
  type: string;
  index?: number;
  message?: unknown;
  content_block?: unknown;
  delta?: { type?: string; text?: string; partial_json?: string };
  usage?: unknown;
}

interface OpenAiToolCallDelta {
  index: number;
  id?: string;
  type?: string;
  function: { name?: string; arguments?: string };
}

interface OpenAiChunk {
  id: string;
  object: string;
  model: string;
  choices: {
    index: number;
    delta: { role?: string; content?: string; tool_calls?: OpenAiToolCallDelta[] };
    finish_reason: string | null;
  }[];
  usage?: unknown;
}

/** Reads a body until it ends or breaks; returns what arrived and the error, if any. */
async function readAll(body: AsyncIterable<Buffer>): Promise<{ text: string; error?: unknown }> {
  let text = '';
  try {
    for await (const chunk of body) text += chunk.toString('utf8');
    return { text };
  } catch (error) {
    return { text, error };
  }
}

describe('fake upstream', () => {
  let up: FakeUpstream;

  beforeAll(async () => {
    up = await startFakeUpstream();
  });

  afterEach(() => up.reset());

  afterAll(async () => {
    await up.close();
  });

  const post = (path: string, body: unknown, signal?: AbortSignal) =>
    request(`${up.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'sk-test' },
      body: JSON.stringify(body),
      signal,
    });

  it('should stream a message with events in protocol order', async () => {
    up.enqueue({
      kind: 'message',
      content: [
        { type: 'thinking', thinking: 'Let me think', signature: 'sig123' },
        { type: 'text', text: 'Hello world' },
        { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { path: '/tmp/a' } },
      ],
      usage: { input_tokens: 42, output_tokens: 7 },
      headers: { 'x-extra': 'yes' },
    });
    const res = await post('/v1/messages', { model: 'claude-test', stream: true, messages: [] });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['request-id']).toBe('req_fake_1');
    expect(res.headers['x-extra']).toBe('yes');

    const events = parseSse(await res.body.text());
    for (const e of events) expect((JSON.parse(e.data) as { type: string }).type).toBe(e.event);
    const data = events.map((e) => JSON.parse(e.data) as AnthropicEventData);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(data[0]!.message).toMatchObject({
      id: 'msg_fake_1',
      model: 'claude-test',
      content: [],
      stop_reason: null,
      usage: { input_tokens: 42, output_tokens: 1 },
    });
    expect(data[2]!.content_block).toEqual({ type: 'thinking', thinking: '', signature: '' });
    expect(data[3]!.delta).toEqual({ type: 'thinking_delta', thinking: 'Let me think' });
    expect(data[4]!.delta).toEqual({ type: 'signature_delta', signature: 'sig123' });
    const text = data
      .filter((d) => d.index === 1 && d.type === 'content_block_delta')
      .map((d) => d.delta?.text)
      .join('');
    expect(text).toBe('Hello world');
    expect(data[11]!.content_block).toEqual({ type: 'tool_use', id: 'toolu_1', name: 'Read', input: {} });
    const json = data
      .filter((d) => d.index === 2 && d.type === 'content_block_delta')
      .map((d) => d.delta?.partial_json)
      .join('');
    expect(JSON.parse(json)).toEqual({ path: '/tmp/a' });
    expect(data[15]).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { output_tokens: 7 },
    });
  });

  it('should answer a non-streaming request with the full message JSON', async () => {
    const res = await post('/relay/v1/messages?beta=true', { model: 'claude-x', messages: [] });
    expect(res.statusCode).toBe(200);
    expect(res.headers['request-id']).toBe('req_fake_1');
    expect(await res.body.json()).toEqual({
      id: 'msg_fake_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-x',
      content: [{ type: 'text', text: 'Hello from fake' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5 },
    });
  });

  it('should use the default behaviour after the queue and honour the model override', async () => {
    up.setDefault({ kind: 'message', content: [{ type: 'text', text: 'default' }], model: 'forced', stopReason: 'x' });
    up.enqueue({ kind: 'status', status: 500 });
    const first = await post('/v1/messages', { model: 'm' });
    expect(first.statusCode).toBe(500);
    await first.body.dump();
    const second = await post('/v1/messages', { model: 'm' });
    expect(await second.body.json()).toMatchObject({
      model: 'forced',
      stop_reason: 'x',
      content: [{ type: 'text', text: 'default' }],
    });
  });

  it('should send an error status with an Anthropic error body and retry-after', async () => {
    up.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
    const res = await post('/v1/messages', { model: 'm', stream: true });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('3');
    expect(await res.body.json()).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Fake upstream error 429' },
      request_id: 'req_fake_1',
    });
  });

  it('should send a verbatim status body when given', async () => {
    up.enqueue({ kind: 'status', status: 529, body: 'not json' });
    const res = await post('/v1/messages', { model: 'm' });
    expect(res.statusCode).toBe(529);
    expect(await res.body.text()).toBe('not json');
  });

  it('should reset the connection without sending headers', async () => {
    up.enqueue({ kind: 'reset' });
    await expect(post('/v1/messages', { model: 'm', stream: true })).rejects.toThrow();
    expect(up.requests).toHaveLength(1);
    expect(up.clientAborts).toBe(0);
  });

  it('should cut the stream after the given number of events without message_stop', async () => {
    up.enqueue({ kind: 'cut', afterEvents: 4 });
    const res = await post('/v1/messages', { model: 'm', stream: true });
    expect(res.statusCode).toBe(200);
    const { text, error } = await readAll(res.body);
    expect(error).toBeDefined();
    expect(parseSse(text).map((e) => e.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
    ]);
    expect(text).not.toContain('message_stop');
    expect(up.clientAborts).toBe(0);
  });

  it('should send an error event mid-stream and end without message_stop', async () => {
    up.enqueue({ kind: 'sse-error', afterEvents: 2, errorType: 'overloaded_error', message: 'busy' });
    const res = await post('/v1/messages', { model: 'm', stream: true });
    expect(res.statusCode).toBe(200);
    const events = parseSse(await res.body.text());
    expect(events.map((e) => e.event)).toEqual(['message_start', 'ping', 'error']);
    expect(JSON.parse(events[2]!.data)).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'busy' },
    });
  });

  it('should stream OpenAI chunks with two tool calls and a usage chunk', async () => {
    up.enqueue({
      kind: 'openai',
      content: 'Hi',
      toolCalls: [
        { id: 'call_a', name: 'Read', arguments: '{"p":1}' },
        { id: 'call_b', name: 'Bash', arguments: '{}' },
      ],
      usage: { prompt_tokens: 120, completion_tokens: 30, cached_tokens: 100 },
    });
    const res = await post('/openai/v1/chat/completions', {
      model: 'gpt-x',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    const events = parseSse(await res.body.text());
    expect(events.every((e) => e.event === undefined)).toBe(true);
    expect(events.at(-1)!.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as OpenAiChunk);
    for (const c of chunks)
      expect(c).toMatchObject({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', model: 'gpt-x' });
    const deltas = chunks.filter((c) => c.choices.length > 0).map((c) => c.choices[0]!.delta);
    expect(deltas[0]).toEqual({ role: 'assistant' });
    expect(
      deltas
        .map((d) => d.content)
        .filter(Boolean)
        .join(''),
    ).toBe('Hi');
    const calls = deltas.flatMap((d) => d.tool_calls ?? []);
    expect(calls[0]).toEqual({ index: 0, id: 'call_a', type: 'function', function: { name: 'Read', arguments: '' } });
    const args = (i: number) =>
      calls
        .filter((c) => c.index === i)
        .map((c) => c.function.arguments)
        .join('');
    expect(args(0)).toBe('{"p":1}');
    expect(args(1)).toBe('{}');
    expect(calls.filter((c) => c.id !== undefined).map((c) => c.id)).toEqual(['call_a', 'call_b']);
    const finish = chunks.filter((c) => c.choices.length > 0 && c.choices[0]!.finish_reason !== null);
    expect(finish).toHaveLength(1);
    expect(finish[0]!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 120, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 100 } },
    });
  });

  it('should answer a message behaviour on chat/completions in OpenAI format', async () => {
    const res = await post('/v1/chat/completions', { model: 'gpt-x' });
    expect(await res.body.json()).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-x',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from fake' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 5 },
    });
  });

  it('should send OpenAI raw chunks verbatim', async () => {
    up.enqueue({ kind: 'openai-raw-stream', chunks: ['{"a":1}', '[DONE]'] });
    const res = await post('/v1/chat/completions', { model: 'gpt-x', stream: true });
    expect(await res.body.text()).toBe('data: {"a":1}\n\ndata: [DONE]\n\n');
  });

  it('should count tokens unless a behaviour is queued', async () => {
    const messages = [{ role: 'user', content: 'x'.repeat(100) }];
    const res = await post('/v1/messages/count_tokens', { model: 'm', messages });
    expect(await res.body.json()).toEqual({ input_tokens: Math.round(JSON.stringify(messages).length / 4) });
    up.enqueue({ kind: 'status', status: 404 });
    const failed = await post('/v1/messages/count_tokens?beta=true', { model: 'm', messages });
    expect(failed.statusCode).toBe(404);
    expect(await failed.body.json()).toMatchObject({ error: { type: 'not_found_error' } });
  });

  it('should answer 404 on unknown paths', async () => {
    const res = await post('/v1/other', {});
    expect(res.statusCode).toBe(404);
    await res.body.dump();
  });

  it('should count a client abort of a stalled request', async () => {
    up.enqueue({ kind: 'stall' });
    const controller = new AbortController();
    const pending = post('/v1/messages', { model: 'm', stream: true }, controller.signal);
    const settled = pending.then(
      () => 'resolved',
      () => 'rejected',
    );
    await up.waitForRequests(1);
    expect(up.clientAborts).toBe(0);
    controller.abort();
    expect(await settled).toBe('rejected');
    await up.waitForClientAbort();
    expect(up.clientAborts).toBe(1);
  });

  it('should count a client abort of a silent stream', async () => {
    up.enqueue({ kind: 'stall-stream', afterEvents: 2 });
    const controller = new AbortController();
    const res = await post('/v1/messages', { model: 'm', stream: true }, controller.signal);
    expect(res.statusCode).toBe(200);
    const reading = readAll(res.body);
    controller.abort();
    const { error } = await reading;
    expect(error).toBeDefined();
    await up.waitForClientAbort();
    expect(up.clientAborts).toBe(1);
  });

  it('should count a client abort of a delayed stream', async () => {
    up.enqueue({ kind: 'message', eventDelayMs: 200 });
    const controller = new AbortController();
    const res = await post('/v1/messages', { model: 'm', stream: true }, controller.signal);
    const iterator = res.body[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as Buffer;
    expect(first.toString('utf8')).toContain('event: message_start');
    controller.abort();
    await up.waitForClientAbort();
    expect(up.clientAborts).toBe(1);
  });

  it('should answer after a finite stall', async () => {
    up.enqueue({ kind: 'stall', ms: 50 });
    const started = Date.now();
    const res = await post('/v1/messages', { model: 'm' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(await res.body.json()).toMatchObject({ content: [{ type: 'text', text: 'Hello from fake' }] });
  });

  it('should record requests with parsed body, headers and path with query string', async () => {
    const res = await post('/v1/messages?beta=true', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    await res.body.dump();
    expect(up.requests).toHaveLength(1);
    const recorded = up.requests[0]!;
    expect(recorded.method).toBe('POST');
    expect(recorded.path).toBe('/v1/messages?beta=true');
    expect(recorded.headers['x-api-key']).toBe('sk-test');
    expect(recorded.body).toEqual({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(JSON.parse(recorded.rawBody)).toEqual(recorded.body);
  });

  it('should close quickly with a stalled request open', async () => {
    const other = await startFakeUpstream();
    other.setDefault({ kind: 'stall' });
    const pending = request(`${other.url}/v1/messages`, { method: 'POST', body: '{}' }).then(
      () => 'resolved',
      () => 'rejected',
    );
    await other.waitForRequests(1);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBe('rejected');
    expect(other.clientAborts).toBe(0);
  });
});
