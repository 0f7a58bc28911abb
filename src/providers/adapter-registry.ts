import { Injectable } from '@nestjs/common';
import type { ProviderConfig, ProviderType } from '../config/gateway-config';
import { AnthropicAdapter } from './anthropic.adapter';
import { OpenAiAdapter } from './openai.adapter';
import type { ProviderAdapter } from './provider-adapter';

/** The adapter for each provider type, built once. */
@Injectable()
export class AdapterRegistry {
  private readonly adapters: Readonly<Record<ProviderType, ProviderAdapter>>;

  constructor() {
    this.adapters = { anthropic: new AnthropicAdapter(), openai: new OpenAiAdapter() };
  }

  for(provider: ProviderConfig): ProviderAdapter {
    return this.adapters[provider.type];
  }
}
