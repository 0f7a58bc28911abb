import { createHash, randomBytes } from 'node:crypto';

const OPENAI_NAME_MAX = 64;
const SHORTENED_PREFIX_LENGTH = 55;
const INVALID_NAME_CHARS = /[^a-zA-Z0-9_-]/g;
const INVALID_ID_CHARS = /[^a-zA-Z0-9_-]/g;

function hash8(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 8);
}

function hashedName(sanitized: string, original: string): string {
  return `${sanitized.slice(0, SHORTENED_PREFIX_LENGTH)}_${hash8(original)}`;
}

/**
 * Per-request two-way map between Anthropic tool names and names OpenAI accepts (`^[a-zA-Z0-9_-]{1,64}$`).
 * Valid names map to themselves; others are sanitised and, when still too long, cut to a 55-character prefix plus
 * `_` and 8 hex of the original's sha256 (LiteLLM's scheme), so the same name always gives the same result.
 */
export class ToolNameMap {
  private readonly openAiByAnthropic = new Map<string, string>();
  private readonly anthropicByOpenAi = new Map<string, string>();

  toOpenAi(name: string): string {
    const known = this.openAiByAnthropic.get(name);
    if (known !== undefined) return known;
    const mapped = this.unusedName(name);
    this.openAiByAnthropic.set(name, mapped);
    this.anthropicByOpenAi.set(mapped, name);
    return mapped;
  }

  toAnthropic(name: string): string {
    return this.anthropicByOpenAi.get(name) ?? name;
  }

  private unusedName(name: string): string {
    const candidate = shortenToolName(name);
    const owner = this.anthropicByOpenAi.get(candidate);
    // Two originals that sanitise alike ("a.b", "a:b") must not share a name, or the reverse map breaks.
    if (owner === undefined || owner === name) return candidate;
    return hashedName(candidate, name);
  }
}

export function shortenToolName(name: string): string {
  const sanitized = name.replace(INVALID_NAME_CHARS, '_');
  if (sanitized.length === 0) return `tool_${hash8(name)}`;
  if (sanitized.length <= OPENAI_NAME_MAX) return sanitized;
  return hashedName(sanitized, name);
}

/** An id matching Anthropic's `^[a-zA-Z0-9_-]+$`: invalid characters become `_`; a missing id gets a fresh one. */
export function sanitizeToolUseId(id: string | null | undefined): string {
  if (id == null || id.length === 0) return `toolu_${randomBytes(12).toString('hex')}`;
  return id.replace(INVALID_ID_CHARS, '_');
}
