import { type ConfigOverrides, loadConfigFile } from './config-loader';
import type { GatewayConfig } from './gateway-config';

/** Where the config came from, so that a reload reads the same file with the same overrides. */
export class ConfigSource {
  constructor(
    readonly path: string,
    readonly initial: GatewayConfig,
    private readonly overrides: ConfigOverrides,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  load(): GatewayConfig {
    return loadConfigFile(this.path, this.env, this.overrides);
  }
}
