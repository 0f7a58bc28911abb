import type { MessageRequest } from '../messages/message-request';
import type { AttemptInput, PreparedCall, ProviderAdapter } from './provider-adapter';
import { mayHoldUnsignedThinking, withoutUnsignedThinking } from './unsigned-thinking';
import { anthropicUpstreamHeaders } from './upstream-headers';

/** Anthropic-compatible upstreams: the body goes through untouched but for the model (and a max_tokens cap). */
export class AnthropicAdapter implements ProviderAdapter {
  prepareMessages(input: AttemptInput): PreparedCall {
    const { request, provider } = input;
    return {
      path: upstreamPath(provider.basePath, '/v1/messages', request.query),
      headers: anthropicUpstreamHeaders(provider, request.headers, input.credential, request.stream),
      body: forwardedBody(request, input.upstreamModel, provider.maxTokensCap),
      translateStream: (body) => body,
      translateMessage: (text, parsed) => ({ body: text, usage: (parsed as { usage?: unknown }).usage }),
      translateError: (status, text) => ({ status, body: text }),
    };
  }

  prepareCountTokens(input: AttemptInput): Pick<PreparedCall, 'path' | 'headers' | 'body'> {
    const { request, provider } = input;
    return {
      path: upstreamPath(provider.basePath, '/v1/messages/count_tokens', request.query),
      headers: anthropicUpstreamHeaders(provider, request.headers, input.credential, false),
      body: forwardedBody(request, input.upstreamModel, undefined),
    };
  }
}

export function upstreamPath(basePath: string, endpoint: string, query: string): string {
  return `${basePath}${endpoint}${query}`;
}

/**
 * The client's bytes, with only what has to change spliced in: the model, a max_tokens cap, and (after an
 * OpenAI-compatible provider answered earlier in the conversation) its unsigned thinking taken out.
 */
function forwardedBody(request: MessageRequest, model: string, maxTokensCap: number | undefined): Buffer {
  const maxTokens = request.body.value('max_tokens');
  const capTokens = maxTokensCap !== undefined && typeof maxTokens === 'number' && maxTokens > maxTokensCap;
  const replacements: Record<string, unknown> = {};
  if (model !== request.model) replacements.model = model;
  if (capTokens) replacements.max_tokens = maxTokensCap;
  const messages = request.body.rawValue('messages');
  if (messages !== undefined && mayHoldUnsignedThinking(messages)) {
    const cleaned = withoutUnsignedThinking(request.body.json);
    if (cleaned) {
      replacements.messages = cleaned.messages;
      if (cleaned.thinking !== request.body.json.thinking) replacements.thinking = cleaned.thinking;
    }
  }
  return Object.keys(replacements).length === 0 ? request.body.raw : request.body.withFields(replacements);
}
