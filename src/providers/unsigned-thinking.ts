import type { JsonObject } from '../messages/request-body';

type Block = Record<string, unknown>;
type Message = { role?: unknown; content?: unknown };

const SIGNATURE_KEY = Buffer.from('"signature":');
const SPACE = 0x20;
const QUOTE = 0x22;

/**
 * A cheap byte test for what an OpenAI provider's reasoning leaves in a conversation: thinking with no signature
 * (`"signature":""` or `"signature": ""`). One pass; give it the `messages` field, not the whole body: on a Claude Code
 * request the tools and system prompt are most of the bytes and never hold thinking.
 */
export function mayHoldUnsignedThinking(raw: Buffer): boolean {
  for (let at = raw.indexOf(SIGNATURE_KEY); at !== -1; at = raw.indexOf(SIGNATURE_KEY, at + SIGNATURE_KEY.length)) {
    let value = at + SIGNATURE_KEY.length;
    if (raw[value] === SPACE) value += 1;
    if (raw[value] === QUOTE && raw[value + 1] === QUOTE) return true;
  }
  return false;
}

/**
 * Makes a conversation that went through an OpenAI-compatible provider acceptable to Anthropic again: thinking blocks
 * without a signature (converted from reasoning) are dropped, since Anthropic rejects them, and thinking is turned off
 * when the last assistant tool turn would then not start with a thinking block, which Anthropic requires while it is on.
 * Returns undefined when nothing had to change.
 */
export function withoutUnsignedThinking(body: JsonObject): JsonObject | undefined {
  if (!Array.isArray(body.messages)) return undefined;
  let changed = false;
  const messages = (body.messages as Message[]).map((message) => {
    if (message?.role !== 'assistant' || !Array.isArray(message.content)) return message;
    const kept = (message.content as Block[]).filter((block) => !isUnsignedThinking(block));
    if (kept.length === message.content.length) return message;
    changed = true;
    return { ...message, content: kept.length > 0 ? kept : [{ type: 'text', text: '[thinking omitted]' }] };
  });
  if (!changed) return undefined;
  const next: JsonObject = { ...body, messages };
  if (thinkingIsOn(body.thinking) && lastToolTurnLacksThinking(messages)) next.thinking = { type: 'disabled' };
  return next;
}

function isUnsignedThinking(block: Block): boolean {
  return block?.type === 'thinking' && (typeof block.signature !== 'string' || block.signature === '');
}

function thinkingIsOn(thinking: unknown): boolean {
  const type = (thinking as { type?: unknown } | undefined)?.type;
  return type === 'enabled' || type === 'adaptive';
}

function lastToolTurnLacksThinking(messages: Message[]): boolean {
  const last = [...messages].reverse().find((message) => message?.role === 'assistant');
  if (!last || !Array.isArray(last.content)) return false;
  const blocks = last.content as Block[];
  const first = blocks[0]?.type;
  return blocks.some((block) => block?.type === 'tool_use') && first !== 'thinking' && first !== 'redacted_thinking';
}
