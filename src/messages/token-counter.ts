import { Tiktoken } from 'js-tiktoken/lite';
import type { JsonObject } from './message-request';

/** Anthropic bills an image by its size, up to about 1600 tokens; without decoding it, assume the upper end. */
const IMAGE_TOKENS = 1600;
const DOCUMENT_TOKENS = 2000;
const PER_MESSAGE_TOKENS = 4;
const PER_TOOL_TOKENS = 8;

interface Countable {
  readonly texts: string[];
  images: number;
  documents: number;
  messages: number;
  tools: number;
}

function collect(body: JsonObject): Countable {
  const countable: Countable = { texts: [], images: 0, documents: 0, messages: 0, tools: 0 };
  collectContent(body.system, countable);
  if (Array.isArray(body.messages)) {
    for (const message of body.messages as { content?: unknown }[]) {
      countable.messages += 1;
      collectContent(message?.content, countable);
    }
  }
  if (Array.isArray(body.tools)) {
    for (const tool of body.tools as (JsonObject | null)[]) {
      // Whatever else a client puts in the list is not a tool: count_tokens counts what is there, never throws.
      if (tool === null || typeof tool !== 'object') continue;
      countable.tools += 1;
      for (const key of ['name', 'description'] as const)
        if (typeof tool[key] === 'string') countable.texts.push(tool[key]);
      if (tool.input_schema !== undefined) countable.texts.push(JSON.stringify(tool.input_schema));
    }
  }
  return countable;
}

function collectContent(content: unknown, into: Countable): void {
  if (typeof content === 'string') {
    into.texts.push(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content as JsonObject[]) {
    if (block === null || typeof block !== 'object') continue;
    switch (block.type) {
      case 'text':
        if (typeof block.text === 'string') into.texts.push(block.text);
        break;
      case 'image':
        into.images += 1;
        break;
      case 'document': {
        const source = block.source as { type?: string; data?: unknown } | undefined;
        if (source?.type === 'text' && typeof source.data === 'string') into.texts.push(source.data);
        else into.documents += 1;
        break;
      }
      case 'thinking':
        if (typeof block.thinking === 'string') into.texts.push(block.thinking);
        break;
      case 'tool_use':
      case 'server_tool_use':
        into.texts.push(typeof block.name === 'string' ? block.name : '', JSON.stringify(block.input ?? {}));
        break;
      case 'tool_result':
        collectContent(block.content, into);
        break;
      default:
        break;
    }
  }
}

function overhead(countable: Countable): number {
  return (
    countable.images * IMAGE_TOKENS +
    countable.documents * DOCUMENT_TOKENS +
    countable.messages * PER_MESSAGE_TOKENS +
    countable.tools * PER_TOOL_TOKENS
  );
}

/** A cheap estimate (about four characters a token) for the hot path, e.g. a converted stream's message_start. */
export function estimateInputTokens(body: JsonObject): number {
  return estimateFrom(collect(body));
}

function estimateFrom(countable: Countable): number {
  return Math.max(1, Math.ceil(characterCount(countable) / 4) + overhead(countable));
}

function characterCount(countable: Countable): number {
  return countable.texts.reduce((sum, text) => sum + text.length, 0);
}

let encoder: Tiktoken | undefined;

/**
 * BPE merging is quadratic in the length of an unbroken run of characters (10k of one character, or 10k newlines,
 * take seconds and block every other request meanwhile), so long runs, such as box-drawing lines in tool output or
 * padding, are estimated instead of tokenized: a third of a token per visible character, a quarter per whitespace
 * character. Past a total size the whole count is the cheap estimate.
 */
const LONG_RUN = /\S{256,}|\s{256,}/g;
const TOKENIZE_LIMIT_CHARS = 2_000_000;

function tokenize(text: string): number {
  let estimated = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    estimated += Math.ceil(run.length / (/\s/.test(run[0]!) ? 4 : 3));
    return ' ';
  });
  return estimated + encoder!.encode(rest, [], []).length;
}

/** A tokenizer count (cl100k_base) for count_tokens when no provider can answer; the ranks load on first use. */
export function countTokensLocally(body: JsonObject): number {
  const countable = collect(body);
  if (characterCount(countable) > TOKENIZE_LIMIT_CHARS) return estimateFrom(countable);
  if (!encoder) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ranks = require('js-tiktoken/ranks/cl100k_base') as ConstructorParameters<typeof Tiktoken>[0];
    encoder = new Tiktoken(ranks);
  }
  const tokens = countable.texts.reduce((sum, text) => sum + tokenize(text), 0);
  return Math.max(1, tokens + overhead(countable));
}
