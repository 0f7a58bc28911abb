/**
 * OpenAI Chat Completions answer writers for the fake upstream's `custom` behaviour, so a test can decide the answer
 * by looking at the parsed request (e.g. "does it carry a tool message?") and still speak OpenAI's wire format.
 */
import type { ServerResponse } from 'node:http';

export interface OpenAiToolCallAnswer {
  id: string;
  name: string;
  arguments: string;
}

export interface OpenAiAnswer {
  content?: string;
  toolCalls?: OpenAiToolCallAnswer[];
  finishReason?: string;
  /** OpenAI usage; `null` sends none at all (no usage chunk, no usage field). */
  usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number } | null;
}

/** An OpenAI chat message as the upstream received it. */
export interface OpenAiRequestMessage {
  role?: string;
  content?: unknown;
  tool_call_id?: string;
  tool_calls?: { id: string; type: string; function: { name: string; arguments: string } }[];
}

const DEFAULT_USAGE = { prompt_tokens: 10, completion_tokens: 5 };

/** The `messages` of a Chat Completions request body (empty when there are none). */
export function openAiMessagesOf(body: unknown): OpenAiRequestMessage[] {
  const messages = (body as { messages?: unknown } | undefined)?.messages;
  return Array.isArray(messages) ? (messages as OpenAiRequestMessage[]) : [];
}

/** The `tool` messages of a Chat Completions request body. */
export function openAiToolMessages(body: unknown): OpenAiRequestMessage[] {
  return openAiMessagesOf(body).filter((m) => m.role === 'tool');
}

/** Writes an OpenAI answer: SSE chunks (arguments split in two fragments) when the request streams, else one JSON. */
export function writeOpenAiAnswer(res: ServerResponse, body: unknown, answer: OpenAiAnswer): void {
  const request = (typeof body === 'object' && body !== null ? body : {}) as {
    model?: unknown;
    stream?: unknown;
    stream_options?: { include_usage?: unknown };
  };
  const model = typeof request.model === 'string' ? request.model : 'gpt-fake';
  const toolCalls = answer.toolCalls ?? [];
  const finishReason = answer.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
  const usage = answer.usage === null ? undefined : openAiUsage(answer.usage ?? DEFAULT_USAGE);
  if (request.stream !== true) {
    const message: Record<string, unknown> = { role: 'assistant', content: answer.content ?? null };
    if (toolCalls.length > 0) {
      message.tool_calls = toolCalls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: c.arguments },
      }));
    }
    const completion: Record<string, unknown> = {
      id: 'chatcmpl-custom',
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message, finish_reason: finishReason }],
    };
    if (usage !== undefined) completion.usage = usage;
    const text = JSON.stringify(completion);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const base = {
    id: 'chatcmpl-custom',
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
  };
  const frames: string[] = [];
  const push = (payload: unknown): void => {
    frames.push(`data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`);
  };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): void =>
    push({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
  chunk({ role: 'assistant' });
  if (answer.content) chunk({ content: answer.content });
  toolCalls.forEach((call, index) => {
    chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
    const half = Math.ceil(call.arguments.length / 2);
    for (const fragment of [call.arguments.slice(0, half), call.arguments.slice(half)]) {
      if (fragment !== '') chunk({ tool_calls: [{ index, function: { arguments: fragment } }] });
    }
  });
  chunk({}, finishReason);
  if (usage !== undefined && request.stream_options?.include_usage === true) push({ ...base, choices: [], usage });
  push('[DONE]');
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.end(frames.join(''));
}

function openAiUsage(usage: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number }) {
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.prompt_tokens + usage.completion_tokens,
    prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
  };
}
