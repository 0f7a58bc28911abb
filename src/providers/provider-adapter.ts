import type { ProviderConfig } from '../config/gateway-config';
import type { MessageRequest } from '../messages/message-request';
import type { Credential } from './upstream-headers';

export interface AttemptInput {
  readonly request: MessageRequest;
  readonly provider: ProviderConfig;
  readonly upstreamModel: string;
  readonly credential: Credential;
}

export type SseChunk = Uint8Array | string;

export interface TranslatedMessage {
  readonly body: string;
  readonly usage: unknown;
}

/** One upstream call, prepared for a provider, with the translations that apply to its answer. */
export interface PreparedCall {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer;
  /** Anthropic SSE from the upstream body; the identity for Anthropic providers. */
  translateStream(body: AsyncIterable<Uint8Array>): AsyncIterable<SseChunk>;
  /** The Anthropic message (and its JSON text) for a 2xx non-streaming body, already parsed once by the caller. */
  translateMessage(text: string, parsed: unknown): TranslatedMessage;
  /** An Anthropic-shaped error for an upstream error handed back to the client. */
  translateError(status: number, text: string): { status: number; body: string };
}

/** What differs between provider types: how a request is built and how the answer is read. Pure; no I/O. */
export interface ProviderAdapter {
  prepareMessages(input: AttemptInput): PreparedCall;
  /** The provider's own count_tokens call, or undefined when it has none. */
  prepareCountTokens(input: AttemptInput): Pick<PreparedCall, 'path' | 'headers' | 'body'> | undefined;
}
