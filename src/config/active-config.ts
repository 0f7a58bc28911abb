import { Injectable } from '@nestjs/common';
import { ConfigSource } from './config-source';
import type { GatewayConfig } from './gateway-config';
import { GatewayRuntime } from './gateway-runtime';

/**
 * The config in force. Reload swaps the whole snapshot in one assignment; readers take `runtime` once per request
 * and keep it, so a request never sees half of one config and half of another.
 */
@Injectable()
export class ActiveConfig {
  private current: GatewayRuntime;

  constructor(readonly source: ConfigSource) {
    this.current = new GatewayRuntime(source.initial);
  }

  get runtime(): GatewayRuntime {
    return this.current;
  }

  /** Loads and compiles the file again; throws ConfigError and changes nothing when it is invalid. */
  loadNext(): GatewayRuntime {
    return new GatewayRuntime(this.source.load());
  }

  swap(next: GatewayRuntime): GatewayConfig {
    const previous = this.current.config;
    this.current = next;
    return previous;
  }
}
