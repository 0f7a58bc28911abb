import { OpenAiStreamTranslator } from './openai-stream.translator';
import { type ResponseContext } from './openai-to-anthropic.response';
import { ToolNameMap } from './tool-names';

/** Parsed SSE payloads: whatever JSON.parse gives; the tests compare them by value. */
type Json = ReturnType<typeof JSON.parse>;

interface SseEvent {
  event: string;
  data: Json;
}

function context(overrides: Partial<ResponseContext> = {}): ResponseContext {
  return { requestedModel: 'claude-sonnet-4-5', toolNames: new ToolNameMap(), estimatedInputTokens: 42, ...overrides };
}

function data(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): string {
  return data({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
}

function usageChunk(usage: Record<string, unknown>): string {
  return data({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [], usage });
}

const DONE = 'data: [DONE]\n\n';

/** Runs a whole upstream body through a fresh translator; the random message id is normalised for comparison. */
function translate(
  upstream: string,
  ctx: ResponseContext = context(),
): { text: string; translator: OpenAiStreamTranslator } {
  const translator = new OpenAiStreamTranslator(ctx);
  const text = translator.start() + translator.push(upstream) + translator.end();
  return { text: normaliseId(text), translator };
}

function normaliseId(text: string): string {
  return text.replace(/"msg_[0-9a-f]{24}"/g, '"msg_ID"');
}

function parse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.length > 0)
    .map((frame) => {
      const match = /^event: (\S+)\ndata: (.*)$/s.exec(frame);
      if (match === null) throw new Error(`Malformed SSE frame: ${frame}`);
      const event = { event: match[1]!, data: JSON.parse(match[2]!) };
      expect(event.data.type).toBe(event.event);
      return event;
    });
}

function eventTypes(text: string): string[] {
  return parse(text).map((e) => (e.data.index === undefined ? e.event : `${e.event}:${e.data.index}`));
}

function blocks(text: string): { start: Json; deltas: Json[] }[] {
  const result: { start: Json; deltas: Json[] }[] = [];
  for (const { event, data: payload } of parse(text)) {
    if (event === 'content_block_start') result[payload.index] = { start: payload.content_block, deltas: [] };
    if (event === 'content_block_delta') result[payload.index]!.deltas.push(payload.delta);
  }
  return result;
}

/** Each tool block as [id, name, concatenated partial_json]. */
function toolCalls(text: string): string[][] {
  return blocks(text)
    .filter((block) => block.start.type === 'tool_use')
    .map((block) => [
      String(block.start.id),
      String(block.start.name),
      block.deltas.map((delta) => String(delta.partial_json)).join(''),
    ]);
}

function messageDelta(text: string): Json {
  return parse(text).find((e) => e.event === 'message_delta')?.data;
}

const WORKED_EXAMPLE =
  chunk({ role: 'assistant' }) +
  chunk({ content: 'Hi' }) +
  chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'Read', arguments: '' } }] }) +
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"p":1}' } }] }) +
  chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'Bash', arguments: '{}' } }] }) +
  chunk({}, 'tool_calls') +
  usageChunk({ prompt_tokens: 120, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 100 } }) +
  DONE;

const WORKED_EXAMPLE_EXPECTED = String.raw`event: message_start
data: {"type":"message_start","message":{"id":"msg_ID","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":42,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_a","name":"Read","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"p\":1}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_b","name":"Bash","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":20,"output_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":100}}

event: message_stop
data: {"type":"message_stop"}

`;

describe('OpenAiStreamTranslator', () => {
  describe('text followed by two parallel tool calls, event by event', () => {
    it('should emit exactly the expected Anthropic events for text followed by two parallel calls', () => {
      const { text, translator } = translate(WORKED_EXAMPLE);
      expect(text).toBe(WORKED_EXAMPLE_EXPECTED);
      expect(translator.usage).toEqual({
        input_tokens: 20,
        output_tokens: 30,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 100,
      });
      expect(translator.failed).toBe(false);
    });

    it('should give identical output whatever string boundaries the upstream text is split at', () => {
      const upstream = WORKED_EXAMPLE.replace(/\n/g, '\r\n');
      const whole = translate(upstream).text;
      for (let cut = 1; cut < upstream.length; cut++) {
        const translator = new OpenAiStreamTranslator(context());
        const text =
          translator.start() +
          translator.push(upstream.slice(0, cut)) +
          translator.push(upstream.slice(cut)) +
          translator.end();
        expect(normaliseId(text)).toBe(whole);
      }
    });

    it('should give identical output when fed one byte at a time through a streaming decoder', () => {
      const upstream =
        ': keep-alive\n\n' + chunk({ content: 'Grüße 👋 ' }) + chunk({ content: '日本語' }, 'stop') + DONE;
      const whole = translate(upstream).text;
      const translator = new OpenAiStreamTranslator(context());
      const decoder = new TextDecoder('utf-8');
      let text = translator.start();
      for (const byte of new TextEncoder().encode(upstream)) {
        text += translator.push(decoder.decode(new Uint8Array([byte]), { stream: true }));
      }
      text += translator.push(decoder.decode()) + translator.end();
      expect(normaliseId(text)).toBe(whole);
      expect(blocks(whole)[0]!.deltas).toEqual([
        { type: 'text_delta', text: 'Grüße 👋 ' },
        { type: 'text_delta', text: '日本語' },
      ]);
    });
  });

  describe('tool calls', () => {
    it('should give each index of parallel calls sent in one chunk its own block', () => {
      const upstream =
        chunk({
          tool_calls: [
            { index: 0, id: 'call_1', type: 'function', function: { name: 'Read', arguments: '{"file_path":"a.ts"}' } },
            { index: 1, id: 'call_2', type: 'function', function: { name: 'Read', arguments: '{"file_path":"b.ts"}' } },
          ],
        }) +
        chunk({}, 'tool_calls') +
        DONE;
      const { text } = translate(upstream);
      expect(eventTypes(text)).toEqual([
        'message_start',
        'content_block_start:0',
        'content_block_delta:0',
        'content_block_stop:0',
        'content_block_start:1',
        'content_block_delta:1',
        'content_block_stop:1',
        'message_delta',
        'message_stop',
      ]);
      expect(blocks(text)).toEqual([
        {
          start: { type: 'tool_use', id: 'call_1', name: 'Read', input: {} },
          deltas: [{ type: 'input_json_delta', partial_json: '{"file_path":"a.ts"}' }],
        },
        {
          start: { type: 'tool_use', id: 'call_2', name: 'Read', input: {} },
          deltas: [{ type: 'input_json_delta', partial_json: '{"file_path":"b.ts"}' }],
        },
      ]);
    });

    it('should treat a new id on a reused index as a new call', () => {
      const upstream =
        chunk({
          tool_calls: [{ index: 0, id: 'call_1', function: { name: 'Glob', arguments: '{"pattern":"*.ts"}' } }],
        }) +
        chunk({ tool_calls: [{ index: 0, id: 'call_2', function: { name: 'Grep', arguments: '{"pattern":' } }] }) +
        chunk({ tool_calls: [{ index: 0, id: 'call_2', function: { arguments: '"x"}' } }] }) +
        chunk({}, 'tool_calls') +
        DONE;
      expect(toolCalls(translate(upstream).text)).toEqual([
        ['call_1', 'Glob', '{"pattern":"*.ts"}'],
        ['call_2', 'Grep', '{"pattern":"x"}'],
      ]);
    });

    it('should route interleaved fragments by index when every call header comes before its arguments', () => {
      const upstream =
        chunk({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'Read', arguments: '' } }] }) +
        chunk({ tool_calls: [{ index: 1, id: 'call_2', function: { name: 'Bash', arguments: '' } }] }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"file_path":"a"}' } }] }) +
        chunk({ tool_calls: [{ index: 1, function: { arguments: '{"command":"ls"}' } }] }) +
        chunk({}, 'tool_calls') +
        DONE;
      expect(toolCalls(translate(upstream).text)).toEqual([
        ['call_1', 'Read', '{"file_path":"a"}'],
        ['call_2', 'Bash', '{"command":"ls"}'],
      ]);
    });

    it('should emit a call completed after its block closed again as a whole block with a distinct id', () => {
      const upstream =
        chunk({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'Read', arguments: '{"file_path":' } }] }) +
        chunk({ tool_calls: [{ index: 1, id: 'call_2', function: { name: 'Bash', arguments: '{}' } }] }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: '"a"}' } }] }) +
        chunk({}, 'tool_calls') +
        DONE;
      expect(toolCalls(translate(upstream).text)).toEqual([
        ['call_1', 'Read', '{"file_path":'],
        ['call_2', 'Bash', '{}'],
        ['call_1_full', 'Read', '{"file_path":"a"}'],
      ]);
    });

    it('should forward split arguments fragment by fragment and give a call without arguments "{}"', () => {
      const upstream =
        chunk({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'Bash', arguments: '' } }] }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"comm' } }] }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: '' } }] }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: 'and":"l' } }] }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: 's"}' } }] }) +
        chunk({ tool_calls: [{ index: 1, id: 'call_2', function: { name: 'TodoRead', arguments: '' } }] }) +
        chunk({}, 'tool_calls') +
        DONE;
      expect(blocks(translate(upstream).text)).toEqual([
        {
          start: { type: 'tool_use', id: 'call_1', name: 'Bash', input: {} },
          deltas: [
            { type: 'input_json_delta', partial_json: '{"comm' },
            { type: 'input_json_delta', partial_json: 'and":"l' },
            { type: 'input_json_delta', partial_json: 's"}' },
          ],
        },
        {
          start: { type: 'tool_use', id: 'call_2', name: 'TodoRead', input: {} },
          deltas: [{ type: 'input_json_delta', partial_json: '{}' }],
        },
      ]);
    });

    it('should sanitise foreign ids, invent missing ones and map shortened names back', () => {
      const toolNames = new ToolNameMap();
      const longName = 'mcp__claude_in_chrome_browser_automation_server__take_full_page_screenshot_with_annotations';
      const upstreamName = toolNames.toOpenAi(longName);
      const upstream =
        chunk({ tool_calls: [{ index: 0, id: 'functions.Read:0', function: { name: 'Read', arguments: '{}' } }] }) +
        chunk({ tool_calls: [{ index: 1, function: { name: upstreamName, arguments: '{}' } }] }) +
        chunk({}, 'stop') +
        DONE;
      const { text } = translate(upstream, context({ toolNames }));
      const [first, second] = blocks(text);
      expect(first!.start).toEqual({ type: 'tool_use', id: 'functions_Read_0', name: 'Read', input: {} });
      expect(second!.start.id).toMatch(/^toolu_[0-9a-f]{24}$/);
      expect(second!.start.name).toBe(longName);
      expect(messageDelta(text).delta.stop_reason).toBe('tool_use');
    });

    it('should ignore a router replaying a whole call it already sent', () => {
      const call = {
        index: 0,
        id: 'call_1',
        type: 'function',
        function: { name: 'Read', arguments: '{"file_path":"a"}' },
      };
      const upstream = chunk({ tool_calls: [call] }) + chunk({ tool_calls: [call] }, 'tool_calls') + DONE;
      expect(blocks(translate(upstream).text)).toEqual([
        {
          start: { type: 'tool_use', id: 'call_1', name: 'Read', input: {} },
          deltas: [{ type: 'input_json_delta', partial_json: '{"file_path":"a"}' }],
        },
      ]);
    });
  });

  describe('content, reasoning and finish', () => {
    it('should process content that arrives in the same chunk as the finish_reason before finishing', () => {
      const { text } = translate(chunk({ role: 'assistant', content: 'All done.' }, 'stop') + DONE);
      expect(eventTypes(text)).toEqual([
        'message_start',
        'content_block_start:0',
        'content_block_delta:0',
        'content_block_stop:0',
        'message_delta',
        'message_stop',
      ]);
      expect(blocks(text)[0]!.deltas).toEqual([{ type: 'text_delta', text: 'All done.' }]);
      expect(messageDelta(text).delta).toEqual({ stop_reason: 'end_turn', stop_sequence: null });
    });

    it('should keep the first finish_reason and the last usage when either repeats', () => {
      const upstream =
        chunk({ content: 'cut' }, 'length') +
        chunk({}, 'stop') +
        data({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 1 } }) +
        data({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 5 } }) +
        DONE;
      const delta = messageDelta(translate(upstream).text);
      expect(delta.delta.stop_reason).toBe('max_tokens');
      expect(delta.usage.output_tokens).toBe(5);
    });

    it('should stream reasoning as a thinking block before the text block', () => {
      const upstream =
        chunk({ role: 'assistant', reasoning_content: 'Let me ' }) +
        chunk({ reasoning_content: 'think.' }) +
        chunk({ reasoning: 'More.' }) +
        chunk({ content: 'Answer' }) +
        chunk({}, 'stop') +
        DONE;
      const { text } = translate(upstream);
      expect(eventTypes(text)).toEqual([
        'message_start',
        'content_block_start:0',
        'content_block_delta:0',
        'content_block_delta:0',
        'content_block_delta:0',
        'content_block_stop:0',
        'content_block_start:1',
        'content_block_delta:1',
        'content_block_stop:1',
        'message_delta',
        'message_stop',
      ]);
      expect(blocks(text)).toEqual([
        {
          start: { type: 'thinking', thinking: '', signature: '' },
          deltas: [
            { type: 'thinking_delta', thinking: 'Let me ' },
            { type: 'thinking_delta', thinking: 'think.' },
            { type: 'thinking_delta', thinking: 'More.' },
          ],
        },
        { start: { type: 'text', text: '' }, deltas: [{ type: 'text_delta', text: 'Answer' }] },
      ]);
    });

    it('should never open a text block holding only whitespace', () => {
      const upstream =
        chunk({ content: '\n\n' }) +
        chunk({ tool_calls: [{ index: 0, id: 'call_1', function: { name: 'Read', arguments: '{}' } }] }) +
        chunk({}, 'tool_calls') +
        DONE;
      expect(blocks(translate(upstream).text).map((block) => String(block.start.type))).toEqual(['tool_use']);
      const leading = translate(chunk({ content: '\n' }) + chunk({ content: 'Hi' }, 'stop') + DONE).text;
      expect(blocks(leading)[0]!.deltas).toEqual([{ type: 'text_delta', text: '\nHi' }]);
    });
  });

  describe('usage', () => {
    it('should seed message_start with the estimate and fall back to estimates when the upstream sends no usage', () => {
      const { text, translator } = translate(chunk({ content: 'Twelve chars' }, 'stop') + DONE);
      const events = parse(text);
      expect(events[0]!.data.message.usage.input_tokens).toBe(42);
      expect(messageDelta(text).usage).toEqual({
        input_tokens: 42,
        output_tokens: 3,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      });
      expect(translator.usage.input_tokens).toBe(42);
    });

    it('should never report zero input tokens even when the estimate is zero', () => {
      const { text } = translate(chunk({ content: 'x' }, 'stop') + DONE, context({ estimatedInputTokens: 0 }));
      expect(parse(text)[0]!.data.message.usage.input_tokens).toBe(1);
      expect(messageDelta(text).usage.input_tokens).toBe(1);
    });

    it('should separate DeepSeek cache hits and OpenRouter cache writes from input tokens', () => {
      const deepSeek = translate(
        chunk({ content: 'x' }, 'stop') +
          usageChunk({ prompt_tokens: 500, completion_tokens: 7, prompt_cache_hit_tokens: 384 }) +
          DONE,
      );
      expect(messageDelta(deepSeek.text).usage).toEqual({
        input_tokens: 116,
        output_tokens: 7,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 384,
      });
      const openRouter = translate(
        chunk({ content: 'x' }, 'stop') +
          usageChunk({
            prompt_tokens: 1000,
            completion_tokens: 9,
            prompt_tokens_details: { cached_tokens: 600, cache_write_tokens: 300 },
          }) +
          DONE,
      );
      expect(messageDelta(openRouter.text).usage).toEqual({
        input_tokens: 100,
        output_tokens: 9,
        cache_creation_input_tokens: 300,
        cache_read_input_tokens: 600,
      });
    });
  });

  describe('errors and endings', () => {
    it('should turn an error chunk into an error event, without message_stop, and ignore what follows', () => {
      const translator = new OpenAiStreamTranslator(context());
      translator.start();
      const before = translator.push(chunk({ content: 'Hi' }));
      const text = translator.push(
        data({ error: { message: 'Provider returned error', code: 503 } }) + chunk({ content: 'more' }) + DONE,
      );
      expect(eventTypes(before)).toEqual(['content_block_start:0', 'content_block_delta:0']);
      expect(text).toBe(
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Provider returned error"}}\n\n',
      );
      expect(translator.failed).toBe(true);
      expect(translator.push(chunk({ content: 'late' }) + DONE)).toBe('');
      expect(translator.end()).toBe('');
    });

    it('should map an error chunk without a numeric code to api_error', () => {
      const { text } = translate(data({ error: { message: 'bad things', type: 'server_error' } }));
      expect(parse(text).slice(1)).toEqual([
        { event: 'error', data: { type: 'error', error: { type: 'api_error', message: 'bad things' } } },
      ]);
    });

    it('should end with an error event when the upstream stops before any finish_reason or [DONE]', () => {
      const { text, translator } = translate(chunk({ content: 'Partial' }));
      expect(eventTypes(text)).toEqual(['message_start', 'content_block_start:0', 'content_block_delta:0', 'error']);
      expect(parse(text).at(-1)!.data.error.type).toBe('api_error');
      expect(translator.failed).toBe(true);
    });

    it('should close normally at EOF when a finish_reason was seen but [DONE] never came', () => {
      const { text } = translate(chunk({ content: 'Done' }, 'stop'));
      expect(eventTypes(text).slice(-3)).toEqual(['content_block_stop:0', 'message_delta', 'message_stop']);
    });

    it('should process a final line that lacks its newline', () => {
      const { text } = translate(chunk({ content: 'Done' }, 'stop') + 'data: [DONE]');
      expect(eventTypes(text).slice(-2)).toEqual(['message_delta', 'message_stop']);
    });

    it('should report a broken upstream as api_error, or overloaded_error for 503 and 529', () => {
      const translator = new OpenAiStreamTranslator(context());
      translator.start();
      expect(translator.fail('read ECONNRESET')).toBe(
        'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"read ECONNRESET"}}\n\n',
      );
      expect(translator.failed).toBe(true);
      expect(translator.fail('again')).toBe('');
      for (const status of [503, 529]) {
        const overloaded = new OpenAiStreamTranslator(context());
        expect(parse(overloaded.fail('busy', status))[0]!.data.error.type).toBe('overloaded_error');
      }
    });

    it('should send nothing more once the stream has finished', () => {
      const translator = new OpenAiStreamTranslator(context());
      translator.start();
      translator.push(chunk({ content: 'x' }, 'stop') + DONE);
      expect(translator.push(chunk({ content: 'y' }))).toBe('');
      expect(translator.end()).toBe('');
      expect(translator.fail('late')).toBe('');
      expect(translator.failed).toBe(false);
    });

    it('should end with an error event, and no message_stop, at a data line that is not a JSON chunk', () => {
      const { text, translator } = translate(chunk({ content: 'ok' }) + 'data: <html>502 Bad Gateway</html>\n\n');
      expect(eventTypes(text)).toEqual(['message_start', 'content_block_start:0', 'content_block_delta:0', 'error']);
      expect(text).toContain('not a JSON chunk: <html>502 Bad Gateway</html>');
      expect(translator.failed).toBe(true);
    });

    it('should ignore comments, blank lines, empty data and non-data fields', () => {
      const upstream =
        ': OPENROUTER PROCESSING\n\nid: 1\nretry: 100\ndata:\n\n' + chunk({ content: 'ok' }, 'stop') + DONE;
      expect(eventTypes(translate(upstream).text)).toEqual([
        'message_start',
        'content_block_start:0',
        'content_block_delta:0',
        'content_block_stop:0',
        'message_delta',
        'message_stop',
      ]);
    });
  });
});
