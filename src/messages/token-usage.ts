export interface TokenUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheCreation: number;
}

interface AnthropicUsageFields {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

export function emptyUsage(): TokenUsage {
  return { input: 0, output: 0, cacheRead: 0, cacheCreation: 0 };
}

/** Folds an Anthropic usage object into the running totals; stream usage is cumulative, so present fields replace. */
export function applyUsage(target: TokenUsage, usage: AnthropicUsageFields | null | undefined): void {
  if (!usage) return;
  if (typeof usage.input_tokens === 'number') target.input = usage.input_tokens;
  if (typeof usage.output_tokens === 'number') target.output = usage.output_tokens;
  if (typeof usage.cache_read_input_tokens === 'number') target.cacheRead = usage.cache_read_input_tokens;
  if (typeof usage.cache_creation_input_tokens === 'number') target.cacheCreation = usage.cache_creation_input_tokens;
}

/** Reads usage from a `message_start` or `message_delta` event's parsed data. */
export function applyStreamEventUsage(
  target: TokenUsage,
  type: string,
  payload: Record<string, unknown> | undefined,
): void {
  if (payload === undefined) return;
  if (type === 'message_start') {
    const message = payload.message as { usage?: AnthropicUsageFields } | undefined;
    applyUsage(target, message?.usage);
  } else if (type === 'message_delta') {
    applyUsage(target, payload.usage as AnthropicUsageFields | undefined);
  }
}
