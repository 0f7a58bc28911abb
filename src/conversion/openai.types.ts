/**
 * The parts of OpenAI Chat Completions the conversion writes (requests) and reads (responses, stream chunks,
 * errors). Response-side types are loose on purpose: compatible servers add fields (`reasoning_content`,
 * `prompt_cache_hit_tokens`, …) or leave standard ones out.
 */

import { type AnthropicCacheControl } from './anthropic.types';

export interface OpenAiTextPart {
  type: 'text';
  text: string;
  /** Only kept for upstreams that honour it (OpenRouter in front of Claude). */
  cache_control?: AnthropicCacheControl;
}

export interface OpenAiImagePart {
  type: 'image_url';
  image_url: { url: string };
  cache_control?: AnthropicCacheControl;
}

export interface OpenAiFilePart {
  type: 'file';
  file: { file_data: string; filename: string };
  cache_control?: AnthropicCacheControl;
}

export type OpenAiContentPart = OpenAiTextPart | OpenAiImagePart | OpenAiFilePart;

export interface OpenAiToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface OpenAiSystemMessage {
  role: 'system';
  content: string | OpenAiTextPart[];
}

export interface OpenAiUserMessage {
  role: 'user';
  content: string | OpenAiContentPart[];
}

export interface OpenAiAssistantMessage {
  role: 'assistant';
  content: string | OpenAiTextPart[] | null;
  tool_calls?: OpenAiToolCall[];
  reasoning_content?: string;
}

export interface OpenAiToolMessage {
  role: 'tool';
  tool_call_id: string;
  content: string | OpenAiTextPart[];
}

export type OpenAiMessage = OpenAiSystemMessage | OpenAiUserMessage | OpenAiAssistantMessage | OpenAiToolMessage;

export interface OpenAiFunctionTool {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown>; strict?: boolean };
}

export type OpenAiToolChoice = 'auto' | 'required' | 'none' | { type: 'function'; function: { name: string } };

export type OpenAiReasoningEffort = 'low' | 'medium' | 'high';

export interface OpenAiChatRequest {
  model: string;
  messages: OpenAiMessage[];
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
  stream?: boolean;
  stream_options?: { include_usage: boolean };
  tools?: OpenAiFunctionTool[];
  tool_choice?: OpenAiToolChoice;
  parallel_tool_calls?: boolean;
  user?: string;
  reasoning_effort?: OpenAiReasoningEffort;
  response_format?: {
    type: 'json_schema';
    json_schema: { name: string; schema: Record<string, unknown>; strict: boolean };
  };
}

export interface OpenAiUsage {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
  prompt_tokens_details?: { cached_tokens?: number | null; cache_write_tokens?: number | null } | null;
  /** DeepSeek. */
  prompt_cache_hit_tokens?: number | null;
  [key: string]: unknown;
}

export interface OpenAiResponseToolCall {
  id?: string | null;
  type?: string;
  function?: { name?: string | null; arguments?: unknown } | null;
}

export interface OpenAiResponseMessage {
  role?: string;
  /** Standard servers send a string; a few send text parts. */
  content?: string | { type?: string; text?: string }[] | null;
  refusal?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: OpenAiResponseToolCall[] | null;
  function_call?: { name?: string | null; arguments?: unknown } | null;
  [key: string]: unknown;
}

export interface OpenAiChatCompletion {
  id?: string;
  model?: string;
  choices?: { index?: number; message?: OpenAiResponseMessage | null; finish_reason?: string | null }[] | null;
  usage?: OpenAiUsage | null;
  [key: string]: unknown;
}

export interface OpenAiToolCallDelta {
  index?: number | null;
  id?: string | null;
  type?: string | null;
  function?: { name?: string | null; arguments?: string | null } | null;
}

export interface OpenAiChunkDelta {
  role?: string | null;
  content?: string | null;
  refusal?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: OpenAiToolCallDelta[] | null;
  [key: string]: unknown;
}

export interface OpenAiChunkChoice {
  index?: number;
  delta?: OpenAiChunkDelta | null;
  finish_reason?: string | null;
}

export interface OpenAiChatChunk {
  id?: string;
  choices?: OpenAiChunkChoice[] | null;
  usage?: OpenAiUsage | null;
  error?: unknown;
  [key: string]: unknown;
}
