import { randomBytes } from 'node:crypto';
import { type AnthropicMessage, type AnthropicResponseBlock, type AnthropicUsage } from './anthropic.types';
import {
  type OpenAiChatCompletion,
  type OpenAiResponseMessage,
  type OpenAiResponseToolCall,
  type OpenAiUsage,
} from './openai.types';
import { isRecord, tryParseJson } from './json';
import { sanitizeToolUseId, type ToolNameMap } from './tool-names';

export interface ResponseContext {
  /** The model the client asked for; echoed back instead of the upstream's name. */
  requestedModel: string;
  toolNames: ToolNameMap;
  /** Local estimate of the prompt size, used whenever the upstream reports no usage. */
  estimatedInputTokens: number;
}

const CHARS_PER_TOKEN = 4;

export function toAnthropicMessage(completion: OpenAiChatCompletion, context: ResponseContext): AnthropicMessage {
  const choice = completion.choices?.[0];
  const content = toContentBlocks(choice?.message ?? {}, context.toolNames);
  const sawToolUse = content.some((block) => block.type === 'tool_use');
  return {
    id: newMessageId(),
    type: 'message',
    role: 'assistant',
    model: context.requestedModel,
    content,
    stop_reason: toStopReason(choice?.finish_reason, sawToolUse),
    stop_sequence: null,
    usage: toAnthropicUsage(completion.usage, context.estimatedInputTokens, estimateOutputTokens(content)),
  };
}

export function newMessageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

function toContentBlocks(message: OpenAiResponseMessage, toolNames: ToolNameMap): AnthropicResponseBlock[] {
  const blocks: AnthropicResponseBlock[] = [];
  const reasoning = firstNonEmpty(message.reasoning_content, message.reasoning);
  if (reasoning !== undefined) blocks.push({ type: 'thinking', thinking: reasoning, signature: '' });
  for (const text of [contentText(message.content), message.refusal]) {
    if (typeof text === 'string' && text.trim().length > 0) blocks.push({ type: 'text', text });
  }
  const legacyCall = message.function_call != null ? [{ function: message.function_call }] : [];
  const calls: OpenAiResponseToolCall[] = [...(message.tool_calls ?? []), ...legacyCall];
  for (const call of calls) blocks.push(toToolUseBlock(call, toolNames));
  return blocks;
}

function contentText(content: OpenAiResponseMessage['content']): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  return content.map((part) => (typeof part.text === 'string' ? part.text : '')).join('');
}

function toToolUseBlock(call: OpenAiResponseToolCall, toolNames: ToolNameMap): AnthropicResponseBlock {
  const { id, function: fn } = call;
  return {
    type: 'tool_use',
    id: sanitizeToolUseId(id),
    name: toolNames.toAnthropic(fn?.name ?? ''),
    input: parseToolArguments(fn?.arguments),
  };
}

/**
 * Providers send empty, double-encoded or broken `arguments`; the client needs an object either way, and a broken
 * payload is kept visible under `_raw_arguments` so the model can see and repair its own output.
 */
export function parseToolArguments(raw: unknown): Record<string, unknown> {
  if (isRecord(raw)) return raw;
  if (typeof raw !== 'string' || raw.trim().length === 0) return {};
  const parsed = tryParseJson(raw);
  const unwrapped = typeof parsed === 'string' ? tryParseJson(parsed) : parsed;
  return isRecord(unwrapped) ? unwrapped : { _raw_arguments: raw };
}

export function toStopReason(finishReason: string | null | undefined, sawToolUse: boolean): string {
  switch (finishReason) {
    case 'length':
      return 'max_tokens';
    case 'content_filter':
      return 'refusal';
    case null:
    case undefined:
    default:
      // `stop` with tool calls means tool_use; `tool_calls` without any calls means the turn simply ended.
      return sawToolUse ? 'tool_use' : 'end_turn';
  }
}

/**
 * OpenAI's `prompt_tokens` includes cached tokens while Anthropic's `input_tokens` excludes them. Without a
 * prompt count the local estimate is used: a zero input count breaks Claude Code's context meter.
 */
export function toAnthropicUsage(
  usage: OpenAiUsage | undefined | null,
  estimatedInputTokens: number,
  estimatedOutputTokens = 0,
): AnthropicUsage {
  const cacheRead = count(usage?.prompt_tokens_details?.cached_tokens) || count(usage?.prompt_cache_hit_tokens);
  const cacheWrite = count(usage?.prompt_tokens_details?.cache_write_tokens);
  const prompt = count(usage?.prompt_tokens);
  const completion = usage?.completion_tokens;
  return {
    input_tokens: prompt > 0 ? Math.max(prompt - cacheRead - cacheWrite, 0) : nonZeroEstimate(estimatedInputTokens),
    output_tokens: typeof completion === 'number' ? completion : Math.max(0, Math.round(estimatedOutputTokens)),
    cache_creation_input_tokens: prompt > 0 ? cacheWrite : 0,
    cache_read_input_tokens: prompt > 0 ? cacheRead : 0,
  };
}

export function nonZeroEstimate(estimate: number): number {
  return Number.isFinite(estimate) ? Math.max(1, Math.round(estimate)) : 1;
}

export function estimateTokensFromChars(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

function estimateOutputTokens(blocks: AnthropicResponseBlock[]): number {
  const chars = blocks.reduce((sum, block) => {
    switch (block.type) {
      case 'text':
        return sum + block.text.length;
      case 'thinking':
        return sum + block.thinking.length;
      case 'tool_use':
        return sum + JSON.stringify(block.input).length;
    }
  }, 0);
  return estimateTokensFromChars(chars);
}

function count(value: number | null | undefined): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function firstNonEmpty(...values: (string | null | undefined)[]): string | undefined {
  return values.find((value): value is string => typeof value === 'string' && value.length > 0);
}
