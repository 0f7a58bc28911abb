import type { AnthropicRequest } from '../conversion/anthropic.types';
import { toOpenAiRequest } from '../conversion/anthropic-to-openai.request';
import { toAnthropicError } from '../conversion/openai-error.mapping';
import { OpenAiStreamTranslator } from '../conversion/openai-stream.translator';
import { checkConvertibleShape } from '../conversion/request-shape';
import { type ResponseContext, toAnthropicMessage } from '../conversion/openai-to-anthropic.response';
import type { OpenAiChatCompletion } from '../conversion/openai.types';
import { estimateInputTokens } from '../messages/token-counter';
import { upstreamPath } from './anthropic.adapter';
import type { AttemptInput, PreparedCall, ProviderAdapter } from './provider-adapter';
import type { Credential } from './upstream-headers';

/**
 * OpenAI-compatible upstreams (Chat Completions): the Anthropic request is converted, and the answer converted back,
 * streams included, so the rest of the gateway only ever sees Anthropic messages and events.
 */
export class OpenAiAdapter implements ProviderAdapter {
  prepareMessages(input: AttemptInput): PreparedCall {
    const { request, provider } = input;
    checkConvertibleShape(request.body.json);
    const { request: chat, toolNames } = toOpenAiRequest(request.body.json as unknown as AnthropicRequest, {
      model: input.upstreamModel,
      maxTokensField: provider.openai.maxTokensField,
      maxTokensCap: provider.maxTokensCap,
      sendReasoningContent: provider.openai.sendReasoningContent,
      reasoningEffort: provider.openai.reasoningEffort,
      keepCacheControl: provider.openai.keepCacheControl,
    });
    const context: ResponseContext = {
      requestedModel: request.model,
      toolNames,
      estimatedInputTokens: estimateInputTokens(request.body.json),
    };
    return {
      path: upstreamPath(provider.basePath, '/chat/completions', ''),
      headers: {
        'content-type': 'application/json',
        accept: request.stream ? 'text/event-stream' : 'application/json',
        'accept-encoding': 'identity',
        ...provider.headers,
        authorization: bearer(input.credential),
      },
      body: JSON.stringify(chat),
      translateStream: (body) => translateStream(body, context),
      translateMessage: (_text, parsed) => {
        const message = toAnthropicMessage(parsed as OpenAiChatCompletion, context);
        return { body: JSON.stringify(message), usage: message.usage };
      },
      translateError: (status, text) => {
        const mapped = toAnthropicError(status, text);
        return { status: mapped.status, body: JSON.stringify(mapped.body) };
      },
    };
  }

  /** Chat Completions has no token-counting endpoint; the gateway counts locally. */
  prepareCountTokens(): undefined {
    return undefined;
  }
}

/** OpenAI-compatible servers take the key as a bearer token whichever way it was configured. */
function bearer(credential: Credential): string {
  return credential.header === 'authorization' ? credential.value : `Bearer ${credential.value}`;
}

async function* translateStream(body: AsyncIterable<Uint8Array>, context: ResponseContext): AsyncGenerator<string> {
  const translator = new OpenAiStreamTranslator(context);
  const decoder = new TextDecoder();
  yield translator.start();
  for await (const chunk of body) {
    const events = translator.push(decoder.decode(chunk, { stream: true }));
    if (events) yield events;
    if (translator.failed) return;
  }
  const tail = translator.push(decoder.decode()) + translator.end();
  if (tail) yield tail;
}
