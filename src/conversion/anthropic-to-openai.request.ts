import { createHash } from 'node:crypto';
import {
  type AnthropicCacheControl,
  type AnthropicContentBlock,
  type AnthropicDocumentBlock,
  type AnthropicImageSource,
  type AnthropicMessageParam,
  type AnthropicOutputConfig,
  type AnthropicRequest,
  type AnthropicTextBlock,
  type AnthropicThinkingConfig,
  type AnthropicTool,
  type AnthropicToolChoice,
  type AnthropicToolResultBlock,
} from './anthropic.types';
import {
  type OpenAiAssistantMessage,
  type OpenAiChatRequest,
  type OpenAiContentPart,
  type OpenAiFunctionTool,
  type OpenAiImagePart,
  type OpenAiMessage,
  type OpenAiReasoningEffort,
  type OpenAiSystemMessage,
  type OpenAiTextPart,
  type OpenAiToolCall,
  type OpenAiToolChoice,
  type OpenAiToolMessage,
  type OpenAiUserMessage,
} from './openai.types';
import { isRecord } from './json';
import { ToolNameMap } from './tool-names';

export interface OpenAiConversionOptions {
  /** Upstream model name (already routed). */
  model: string;
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** Clamp `max_tokens` to this when set. */
  maxTokensCap?: number;
  /** Echo assistant thinking back as `reasoning_content`. */
  sendReasoningContent: boolean;
  /** Translate `thinking` / `output_config.effort` to `reasoning_effort`. */
  reasoningEffort: boolean;
  /** Keep `cache_control` on content parts (OpenRouter in front of Claude); stripped otherwise. */
  keepCacheControl: boolean;
}

const BILLING_HEADER_PREFIX = 'x-anthropic-billing-header:';
export const MISSING_TOOL_RESULT_TEXT = 'No result was returned for this tool call.';
const MAX_STOP_SEQUENCES = 4;
const RESPONSE_FORMAT_NAME = 'response';

interface Turn {
  role: AnthropicMessageParam['role'];
  blocks: AnthropicContentBlock[];
}

interface ConversionContext {
  options: OpenAiConversionOptions;
  toolNames: ToolNameMap;
}

interface ToolResultContent {
  text: string;
  attachments: OpenAiContentPart[];
}

export function toOpenAiRequest(
  body: AnthropicRequest,
  options: OpenAiConversionOptions,
): { request: OpenAiChatRequest; toolNames: ToolNameMap } {
  const context: ConversionContext = { options, toolNames: new ToolNameMap() };
  const customTools = (body.tools ?? []).filter(isCustomTool);
  // Tools are named first so their OpenAI names do not depend on the order names appear in the history.
  const tools = customTools.map((tool) => toFunctionTool(tool, context.toolNames));
  const request: OpenAiChatRequest = {
    model: options.model,
    messages: [...toSystemMessages(body.system, options), ...toConversationMessages(body.messages ?? [], context)],
  };
  setMaxTokens(request, body.max_tokens, options);
  setSampling(request, body);
  setTools(request, tools, customTools, body.tool_choice, context.toolNames);
  setStreaming(request, body.stream);
  setUser(request, body.metadata?.user_id);
  if (options.reasoningEffort) {
    const effort = toReasoningEffort(body.thinking, body.output_config);
    if (effort !== undefined) request.reasoning_effort = effort;
  }
  setResponseFormat(request, body.output_config);
  return { request, toolNames: context.toolNames };
}

// ---- system -------------------------------------------------------------------------------------------------

function toSystemMessages(system: AnthropicRequest['system'], options: OpenAiConversionOptions): OpenAiMessage[] {
  if (system == null) return [];
  const blocks: AnthropicTextBlock[] = typeof system === 'string' ? [{ type: 'text', text: system }] : system;
  const message = toSystemMessage(blocks, options);
  return message === undefined ? [] : [message];
}

function toSystemMessage(
  blocks: AnthropicContentBlock[],
  options: OpenAiConversionOptions,
): OpenAiSystemMessage | undefined {
  const parts = blocks
    .filter((block): block is AnthropicTextBlock => block.type === 'text' && typeof block.text === 'string')
    .map((block) => ({ ...block, text: stripBillingHeader(block.text) }))
    .filter((block) => !isBlank(block.text))
    .map((block) => textPart(block.text, block.cache_control, options));
  if (parts.length === 0) return undefined;
  return { role: 'system', content: joinTextParts(parts, '\n\n') };
}

/** The billing line changes on every request; left in, it defeats the upstream's prefix cache. */
export function stripBillingHeader(text: string): string {
  return text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith(BILLING_HEADER_PREFIX))
    .join('\n');
}

// ---- conversation -------------------------------------------------------------------------------------------

function toConversationMessages(messages: AnthropicMessageParam[], context: ConversionContext): OpenAiMessage[] {
  const out: OpenAiMessage[] = [];
  let pendingCallIds: string[] = [];
  for (const turn of toTurns(messages)) {
    switch (turn.role) {
      case 'user':
        out.push(...toUserTurnMessages(turn.blocks, pendingCallIds, context));
        pendingCallIds = [];
        break;
      case 'assistant': {
        out.push(...pendingCallIds.map(missingToolResult));
        const message = toAssistantMessage(turn.blocks, context);
        if (message !== undefined) out.push(message);
        pendingCallIds = message?.tool_calls?.map((call) => call.id) ?? [];
        break;
      }
      case 'system': {
        out.push(...pendingCallIds.map(missingToolResult));
        pendingCallIds = [];
        const message = toSystemMessage(turn.blocks, context.options);
        if (message !== undefined) out.push(message);
        break;
      }
    }
  }
  out.push(...pendingCallIds.map(missingToolResult));
  return out;
}

/** Consecutive user (or assistant) messages form one turn upstream at Anthropic, so they are merged here too. */
function toTurns(messages: AnthropicMessageParam[]): Turn[] {
  const turns: Turn[] = [];
  for (const message of messages) {
    const blocks = toBlocks(message.content);
    const last = turns.at(-1);
    if (last !== undefined && last.role === message.role && message.role !== 'system') {
      last.blocks.push(...blocks);
    } else {
      turns.push({ role: message.role, blocks: [...blocks] });
    }
  }
  return turns;
}

function toBlocks(content: string | AnthropicContentBlock[] | undefined | null): AnthropicContentBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return Array.isArray(content) ? content : [];
}

// ---- user turns ---------------------------------------------------------------------------------------------

/**
 * Tool messages must directly follow the assistant's tool_calls, so they come first, in call order, with a
 * placeholder for any call the turn does not answer; everything else the turn holds (including attachments taken
 * out of tool results) follows as one user message.
 */
function toUserTurnMessages(
  blocks: AnthropicContentBlock[],
  pendingCallIds: string[],
  context: ConversionContext,
): OpenAiMessage[] {
  const results = new Map<string, AnthropicToolResultBlock>();
  const userParts: OpenAiContentPart[] = [];
  for (const block of blocks) {
    if (block.type === 'tool_result' && pendingCallIds.includes(block.tool_use_id) && !results.has(block.tool_use_id)) {
      results.set(block.tool_use_id, block);
    } else {
      userParts.push(...toUserParts(block, context));
    }
  }
  const attachments: OpenAiContentPart[] = [];
  const toolMessages = pendingCallIds.map((id) => {
    const result = results.get(id);
    if (result === undefined) return missingToolResult(id);
    const content = toToolResultContent(result, context);
    attachments.push(...content.attachments);
    return toToolMessage(id, content.text, result.cache_control, context.options);
  });
  const userMessage = toUserMessage([...attachments, ...userParts]);
  return userMessage === undefined ? toolMessages : [...toolMessages, userMessage];
}

function toUserMessage(parts: OpenAiContentPart[]): OpenAiUserMessage | undefined {
  const [first] = parts;
  if (first === undefined) return undefined;
  if (parts.length === 1 && first.type === 'text' && first.cache_control === undefined) {
    return { role: 'user', content: first.text };
  }
  return { role: 'user', content: parts };
}

function toUserParts(block: AnthropicContentBlock, context: ConversionContext): OpenAiContentPart[] {
  const { options } = context;
  switch (block.type) {
    case 'text':
      return isBlank(block.text) ? [] : [textPart(block.text, block.cache_control, options)];
    case 'image': {
      const part = toImagePart(block.source);
      return part === undefined ? [] : [withCacheControl(part, block.cache_control, options)];
    }
    case 'document':
      return toDocumentParts(block, context);
    case 'search_result': {
      const text = [block.title, ...block.content.map((inner) => inner.text)].filter((t) => !isBlank(t)).join('\n');
      return isBlank(text) ? [] : [textPart(text, block.cache_control, options)];
    }
    case 'tool_result':
      return toUnansweredToolResultParts(block, context);
    case 'tool_use':
    case 'thinking':
    case 'redacted_thinking':
      return [];
  }
  return []; // block types this gateway does not know
}

function toImagePart(source: AnthropicImageSource | undefined): OpenAiImagePart | undefined {
  switch (source?.type) {
    case 'base64':
      return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } };
    case 'url':
      return { type: 'image_url', image_url: { url: source.url } };
    case 'file': // Anthropic Files API ids mean nothing to another provider.
    case undefined:
      return undefined;
  }
  return undefined;
}

function toDocumentParts(block: AnthropicDocumentBlock, context: ConversionContext): OpenAiContentPart[] {
  const { options } = context;
  const source = block.source;
  switch (source?.type) {
    case 'base64': {
      const file_data = `data:${source.media_type};base64,${source.data}`;
      const filename = block.title ?? 'document.pdf';
      return [withCacheControl({ type: 'file', file: { file_data, filename } }, block.cache_control, options)];
    }
    case 'text':
      return isBlank(source.data) ? [] : [textPart(source.data, block.cache_control, options)];
    case 'content':
      return toBlocks(source.content).flatMap((inner) => toUserParts(inner, context));
    case 'url':
      return [textPart(`[Document: ${source.url}]`, block.cache_control, options)];
    case 'file':
    case undefined:
      return [];
  }
  return [];
}

// ---- tool results -------------------------------------------------------------------------------------------

function toToolResultContent(block: AnthropicToolResultBlock, context: ConversionContext): ToolResultContent {
  const texts: string[] = [];
  const attachments: OpenAiContentPart[] = [];
  for (const part of toBlocks(block.content).flatMap((inner) => toUserParts(inner, context))) {
    if (part.type === 'text') texts.push(part.text);
    else attachments.push(part);
  }
  const lines = [texts.join('\n')];
  if (attachments.length > 0) lines.push(attachmentNote(attachments.length));
  const text = lines.filter((line) => line.length > 0).join('\n');
  return { text: block.is_error === true ? errorText(text) : text, attachments };
}

function attachmentNote(count: number): string {
  return count === 1
    ? '(1 attachment follows in the next user message)'
    : `(${count} attachments follow in the next user message)`;
}

function errorText(text: string): string {
  return text.length === 0 ? 'Error' : `Error: ${text}`;
}

function toToolMessage(
  id: string,
  text: string,
  cacheControl: AnthropicCacheControl | null | undefined,
  options: OpenAiConversionOptions,
): OpenAiToolMessage {
  const part = textPart(text, cacheControl, options);
  // An empty text part with a breakpoint is rejected by Claude behind OpenRouter; the breakpoint is not worth that.
  const content = part.cache_control !== undefined && text.length > 0 ? [part] : text;
  return { role: 'tool', tool_call_id: id, content };
}

function missingToolResult(id: string): OpenAiToolMessage {
  return { role: 'tool', tool_call_id: id, content: MISSING_TOOL_RESULT_TEXT };
}

/** A result whose call is not in the previous assistant turn cannot be a tool message; it is kept as user text. */
function toUnansweredToolResultParts(block: AnthropicToolResultBlock, context: ConversionContext): OpenAiContentPart[] {
  const content = toToolResultContent(block, context);
  const header = `Tool result for ${block.tool_use_id}:`;
  const text = content.text.length > 0 ? `${header}\n${content.text}` : header;
  return [textPart(text, block.cache_control, context.options), ...content.attachments];
}

// ---- assistant turns ----------------------------------------------------------------------------------------

function toAssistantMessage(
  blocks: AnthropicContentBlock[],
  context: ConversionContext,
): OpenAiAssistantMessage | undefined {
  const texts: OpenAiTextPart[] = [];
  const toolCalls: OpenAiToolCall[] = [];
  const thinking: string[] = [];
  for (const block of blocks) {
    switch (block.type) {
      case 'text':
        if (!isBlank(block.text)) texts.push(textPart(block.text, block.cache_control, context.options));
        break;
      case 'tool_use':
        toolCalls.push(toToolCall(block.id, block.name, block.input, context.toolNames));
        break;
      case 'thinking':
        if (!isBlank(block.thinking)) thinking.push(block.thinking);
        break;
      // redacted_thinking is opaque to other providers; server-tool blocks (default) cannot be replayed to them.
      case 'redacted_thinking':
      case 'image':
      case 'document':
      case 'search_result':
      case 'tool_result':
      default:
        break;
    }
  }
  if (texts.length === 0 && toolCalls.length === 0) return undefined;
  const message: OpenAiAssistantMessage = {
    role: 'assistant',
    content: texts.length > 0 ? joinTextParts(texts, '\n\n') : null,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (context.options.sendReasoningContent && thinking.length > 0) message.reasoning_content = thinking.join('\n\n');
  return message;
}

function toToolCall(id: string, name: string, input: unknown, toolNames: ToolNameMap): OpenAiToolCall {
  return {
    id,
    type: 'function',
    function: { name: toolNames.toOpenAi(name), arguments: JSON.stringify(input ?? {}) },
  };
}

// ---- tools --------------------------------------------------------------------------------------------------

type CustomTool = AnthropicTool & { input_schema: Record<string, unknown> };

/** Server tools and Anthropic-defined client tools (typed, no input_schema) cannot run on another provider. */
function isCustomTool(tool: AnthropicTool): tool is CustomTool {
  return (tool.type == null || tool.type === 'custom') && isRecord(tool.input_schema);
}

function toFunctionTool(tool: CustomTool, toolNames: ToolNameMap): OpenAiFunctionTool {
  const fn: OpenAiFunctionTool['function'] = { name: toolNames.toOpenAi(tool.name), parameters: tool.input_schema };
  if (typeof tool.description === 'string') fn.description = tool.description;
  if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

function setTools(
  request: OpenAiChatRequest,
  tools: OpenAiFunctionTool[],
  customTools: CustomTool[],
  choice: AnthropicToolChoice | undefined,
  toolNames: ToolNameMap,
): void {
  if (tools.length === 0) return;
  request.tools = tools;
  if (choice == null) return;
  const toolChoice = toToolChoice(choice, customTools, toolNames);
  if (toolChoice !== undefined) request.tool_choice = toolChoice;
  if (choice.disable_parallel_tool_use === true && choice.type !== 'none') request.parallel_tool_calls = false;
}

function toToolChoice(
  choice: AnthropicToolChoice,
  customTools: CustomTool[],
  toolNames: ToolNameMap,
): OpenAiToolChoice | undefined {
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      // Forcing a tool that was dropped (a server tool) would be rejected upstream; let the model choose instead.
      if (!customTools.some((tool) => tool.name === choice.name)) return undefined;
      return { type: 'function', function: { name: toolNames.toOpenAi(choice.name ?? '') } };
    default:
      return undefined;
  }
}

// ---- scalar fields ------------------------------------------------------------------------------------------

function setMaxTokens(request: OpenAiChatRequest, maxTokens: unknown, options: OpenAiConversionOptions): void {
  if (typeof maxTokens !== 'number') return;
  request[options.maxTokensField] =
    options.maxTokensCap === undefined ? maxTokens : Math.min(maxTokens, options.maxTokensCap);
}

function setSampling(request: OpenAiChatRequest, body: AnthropicRequest): void {
  if (typeof body.temperature === 'number') request.temperature = body.temperature;
  if (typeof body.top_p === 'number') request.top_p = body.top_p;
  const stop = (body.stop_sequences ?? []).filter((s) => typeof s === 'string' && s.length > 0);
  if (stop.length > 0) request.stop = stop.slice(0, MAX_STOP_SEQUENCES);
}

function setStreaming(request: OpenAiChatRequest, stream: unknown): void {
  if (stream !== true) return;
  request.stream = true;
  request.stream_options = { include_usage: true };
}

/** Claude Code's user_id is an opaque, sometimes JSON-encoded identifier; only a fixed-length hash leaves. */
function setUser(request: OpenAiChatRequest, userId: string | null | undefined): void {
  if (typeof userId !== 'string' || userId.length === 0) return;
  request.user = createHash('sha256').update(userId).digest('hex').slice(0, 64);
}

export function toReasoningEffort(
  thinking: AnthropicThinkingConfig | undefined,
  outputConfig: AnthropicOutputConfig | undefined,
): OpenAiReasoningEffort | undefined {
  switch (thinking?.type) {
    case 'enabled':
      return effortForBudget(thinking.budget_tokens);
    case 'adaptive':
      return effortForLevel(outputConfig?.effort);
    case 'disabled':
    case undefined:
      return undefined;
  }
}

function effortForBudget(budget: unknown): OpenAiReasoningEffort {
  const tokens = typeof budget === 'number' ? budget : 0;
  if (tokens < 2048) return 'low';
  if (tokens < 8192) return 'medium';
  return 'high';
}

function effortForLevel(level: string | undefined): OpenAiReasoningEffort | undefined {
  switch (level) {
    case 'low':
    case 'medium':
    case 'high':
      return level;
    case 'xhigh':
    case 'max':
      return 'high';
    case undefined:
    default:
      return undefined;
  }
}

function setResponseFormat(request: OpenAiChatRequest, outputConfig: AnthropicOutputConfig | undefined): void {
  const format = outputConfig?.format;
  if (format?.type !== 'json_schema' || !isRecord(format.schema)) return;
  request.response_format = {
    type: 'json_schema',
    json_schema: { name: RESPONSE_FORMAT_NAME, schema: format.schema, strict: true },
  };
}

// ---- helpers ------------------------------------------------------------------------------------------------

function textPart(
  text: string,
  cacheControl: AnthropicCacheControl | null | undefined,
  options: OpenAiConversionOptions,
): OpenAiTextPart {
  return withCacheControl({ type: 'text', text }, cacheControl, options);
}

function withCacheControl<T extends OpenAiContentPart>(
  part: T,
  cacheControl: AnthropicCacheControl | null | undefined,
  options: OpenAiConversionOptions,
): T {
  return options.keepCacheControl && cacheControl != null ? { ...part, cache_control: cacheControl } : part;
}

/** A plain string unless a part carries a cache breakpoint, which only survives as a content part. */
function joinTextParts(parts: OpenAiTextPart[], separator: string): string | OpenAiTextPart[] {
  if (parts.some((part) => part.cache_control !== undefined)) return parts;
  return parts.map((part) => part.text).join(separator);
}

function isBlank(text: unknown): boolean {
  return typeof text !== 'string' || text.trim().length === 0;
}
