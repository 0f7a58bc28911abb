import { Injectable } from '@nestjs/common';
import type { ProviderConfig, ProviderType } from '../config/gateway-config';
import { AnthropicAdapter } from './anthropic.adapter';
import type { ProviderAdapter } from './provider-adapter';

/** The adapter for each provider type, built once. */
@Injectable()
export class AdapterRegistry {
  private readonly adapters: Readonly<Record<ProviderType, ProviderAdapter>>;

  constructor() {
    const anthropic = new AnthropicAdapter();
    this.adapters = { anthropic, openai: anthropic };
  }

  for(provider: ProviderConfig): ProviderAdapter {
    return this.adapters[provider.type];
  }
}
